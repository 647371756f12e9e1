import Keyv from 'keyv';
import { BoundedMap } from '../core/bounded-map.js';

export const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * An in-memory Keyv holding at most `maxEntries` entries (a row, a miss or a token each), without
 * serialization: the cache stores strings it encodes itself, so Keyv's JSON round trip would only cost time.
 */
export function createMemoryStore(maxEntries = DEFAULT_MAX_ENTRIES): Keyv {
  const map = new BoundedMap<string, unknown>(maxEntries);
  return new Keyv({ store: map, serialize: undefined, deserialize: undefined, useKeyPrefix: false });
}
