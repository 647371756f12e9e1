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

  /**
   * Walks from the oldest entry as they are evicted. A Map's iterator follows its table through deletions and
   * rehashes; a fresh `keys()` for each eviction started over the slots of every entry deleted since the last
   * rehash, so filling a full map cost time in proportion to its size per entry.
   */
  private oldest: IterableIterator<K> | undefined;

  override set(key: K, value: V): this {
    // Re-inserting moves the key to the young end, so the entry evicted is the one written longest ago.
    super.delete(key);
    super.set(key, value);
    while (this.size > this.maxEntries) super.delete(this.oldestKey());
    return this;
  }

  private oldestKey(): K {
    let next = this.oldest?.next();
    if (!next || next.done) {
      // an iterator that reached the end stays there: start another from the oldest entry
      this.oldest = this.keys();
      next = this.oldest.next();
    }
    return next.value as K;
  }
}
