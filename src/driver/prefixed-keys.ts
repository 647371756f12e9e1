import { BoundedMap } from '../core/bounded-map.js';
import { REMEMBERED_KEYS } from '../core/keys.js';

/**
 * The stored keys (the store's prefix, then the key) of keys read lately: a hot key's read concatenates no new
 * string, and hands the store the same string object each time, whose hash the engine keeps. Reads only: a bulk
 * flush must not push hot keys out. Forgotten at once when the prefix changes (a Keyv's namespace set anew).
 */
export class PrefixedKeys {
  private readonly memo = new BoundedMap<string, string>(REMEMBERED_KEYS);
  private prefix = '';

  of(prefix: string, key: string): string {
    if (prefix === '') return key;
    if (prefix !== this.prefix) {
      this.memo.clear();
      this.prefix = prefix;
    }
    let stored = this.memo.get(key);
    if (stored === undefined) this.memo.set(key, (stored = prefix + key));
    return stored;
  }
}
