import { keyvEntryValue, type KeyvMap } from '../core/internals.js';
import type { StoreEntry, SyncDriver } from './driver.js';
import { PrefixedKeys } from './prefixed-keys.js';

/**
 * A Keyv whose store is a Map in this process (`createMemoryStore`, a plain `new Keyv()`), read and written
 * directly: no promise, no serialization, no timer per key. Entries are kept as Keyv keeps them unserialized
 * (`{ value, expires }`, under Keyv's prefix), which Keyv reads back as they are; an entry Keyv itself serialized
 * (a string) is read through its envelope.
 */
export class MemoryDriver implements SyncDriver {
  readonly kind = 'memory';
  private readonly map: Map<string, unknown>;
  private readonly prefix: string;

  constructor({ map, prefix }: KeyvMap) {
    this.map = map;
    this.prefix = prefix;
  }

  peek(keys: readonly string[]): unknown[] {
    const now = Date.now();
    const values: unknown[] = [];
    for (const key of keys) values.push(this.read(this.stored(key), now));
    return values;
  }

  /** Stored keys of keys read lately: a hot key's lookup concatenates and hashes no new string. */
  private readonly prefixed = new PrefixedKeys();

  private stored(key: string): string {
    return this.prefixed.of(this.prefix, key);
  }

  private read(stored: string, now: number): unknown {
    const entry = this.map.get(stored);
    if (entry === undefined) return undefined;
    const value = keyvEntryValue(entry, now);
    // an expired entry goes at once, as Keyv's own get drops it: nothing else would
    if (value === undefined && typeof entry === 'object') this.map.delete(stored);
    return value;
  }

  write(entries: readonly StoreEntry[]): void {
    const now = Date.now();
    for (const { key, value, ttl } of entries) this.map.set(this.prefix + key, ttl ? { value, expires: now + ttl } : { value });
  }

  remove(keys: readonly string[]): void {
    for (const key of keys) this.map.delete(this.prefix + key);
  }

  async getMany(keys: readonly string[]): Promise<readonly unknown[]> {
    return this.peek(keys);
  }

  async setMany(entries: readonly StoreEntry[]): Promise<void> {
    this.write(entries);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.remove(keys);
  }
}
