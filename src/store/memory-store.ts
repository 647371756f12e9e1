import Keyv from 'keyv';
import type { KeyvMapEntry } from '../core/internals.js';

/**
 * A Map that forgets its oldest entries past `maxEntries`. Keyv's in-memory store is a plain Map, which only drops
 * an expired entry when someone reads it: fed distinct keys (a crawler walking slugs), it grows without bound.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly maxEntries: number;

  constructor(maxEntries: number) {
    super();
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`objection-cache: maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
  }

  override set(key: K, value: V): this {
    // Re-inserting moves the key to the young end, so the entry evicted is the one written longest ago.
    super.delete(key);
    super.set(key, value);
    while (this.size > this.maxEntries) super.delete(this.keys().next().value as K);
    return this;
  }
}

export const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * An in-memory Keyv holding at most `maxEntries` entries (a row, a miss or a token each), without
 * serialization: the cache stores strings it encodes itself, so Keyv's JSON round trip would only cost time.
 */
export function createMemoryStore(maxEntries = DEFAULT_MAX_ENTRIES): Keyv {
  const map = new BoundedMap<string, unknown>(maxEntries);
  const keyv = new Keyv({ store: map, serialize: undefined, deserialize: undefined, useKeyPrefix: false });
  ownMaps.set(keyv, map as BoundedMap<string, StoredEntry>);
  return keyv;
}

type StoredEntry = KeyvMapEntry;

const ownMaps = new WeakMap<Keyv, BoundedMap<string, StoredEntry>>();

/**
 * The map behind a Keyv made by `createMemoryStore`: it holds entries exactly as Keyv would (no serialization,
 * no key prefix), so the cache may read and write it directly, without Keyv's promise per key.
 */
export function ownMapOf(keyv: Keyv): BoundedMap<string, StoredEntry> | undefined {
  return ownMaps.get(keyv);
}

/** Synchronous access to an own map, in Keyv's entry format (Keyv reads what this writes, and back). */
export class LocalMap {
  private readonly map: BoundedMap<string, StoredEntry>;

  constructor(map: BoundedMap<string, StoredEntry>) {
    this.map = map;
  }

  peek(keys: readonly string[]): unknown[] {
    const now = Date.now();
    return keys.map((key) => {
      const entry = this.map.get(key);
      if (entry === undefined) return undefined;
      if (entry.expires !== undefined && entry.expires < now) {
        this.map.delete(key);
        return undefined;
      }
      return entry.value;
    });
  }

  setMany(entries: readonly { key: string; value: unknown; ttl?: number }[]): void {
    const now = Date.now();
    for (const { key, value, ttl } of entries) this.map.set(key, ttl ? { value, expires: now + ttl } : { value });
  }

  deleteMany(keys: readonly string[]): void {
    for (const key of keys) this.map.delete(key);
  }
}
