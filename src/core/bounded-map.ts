/**
 * A Map that forgets its oldest entries past `maxEntries`. Keyv's in-memory store is a plain Map, which only drops
 * an expired entry when someone reads it: fed distinct keys (a crawler walking slugs), it grows without bound. The
 * default store, the local tier and the memos of hot lookups' key strings are bounded by it.
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
