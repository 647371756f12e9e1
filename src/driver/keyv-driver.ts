import type Keyv from 'keyv';
import { keyvAdapterOf, keyvEntryValue, keyvPrefixOf, readAdapter } from '../core/internals.js';
import type { StoreDriver, StoreEntry } from './driver.js';
import { OpenedEnvelopes } from './opened-envelopes.js';
import { PrefixedKeys } from './prefixed-keys.js';

/**
 * Any Keyv store the other drivers do not know. Reads go to the store adapter directly where Keyv would read
 * its answers as the cache does (core/internals.ts `keyvAdapterOf`): one `get` per key, answered at once where
 * the adapter answers at once, and a hot key's envelope compared, not parsed. Otherwise, and for every write,
 * through Keyv's own batch methods.
 */
export class KeyvDriver implements StoreDriver {
  readonly kind = 'keyv';
  private readonly keyv: Keyv;
  /** Stored keys of keys read lately, and their envelopes: a hot key's read builds no string and parses nothing. */
  private readonly prefixed = new PrefixedKeys();
  private readonly opened = new OpenedEnvelopes();

  constructor(keyv: Keyv) {
    this.keyv = keyv;
  }

  getMany(keys: readonly string[]): Promise<readonly unknown[]> {
    // asked on every read: an app may set a serializer or compression on its Keyv at any time
    const adapter = keyvAdapterOf(this.keyv);
    if (!adapter) return this.keyv.getMany([...keys]);
    const prefix = keyvPrefixOf(this.keyv);
    const stored = keys.map((key) => this.prefixed.of(prefix, key));
    const raw = readAdapter(adapter, stored);
    return raw instanceof Promise ? raw.then((answers) => this.values(stored, answers)) : Promise.resolve(this.values(stored, raw));
  }

  private values(stored: readonly string[], answers: readonly unknown[]): unknown[] {
    const now = Date.now();
    return answers.map((answer, i) => (typeof answer === 'string' ? this.opened.valueOf(stored[i]!, answer, now) : keyvEntryValue(answer ?? undefined, now)));
  }

  async setMany(entries: readonly StoreEntry[]): Promise<void> {
    await this.keyv.setMany(entries.map(({ key, value, ttl }) => ({ key, value, ttl: ttl === 0 ? undefined : ttl })));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await (keys.length === 1 ? this.keyv.delete(keys[0]!) : this.keyv.deleteMany([...keys]));
  }
}
