import Keyv from 'keyv';

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
  return new Keyv({ store: map, serialize: undefined, deserialize: undefined, useKeyPrefix: false });
}
