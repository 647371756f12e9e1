/**
 * A driver reads, writes and deletes one Keyv's entries by the fastest way its store offers: a Map in this
 * process directly (memory-driver.ts), Redis through the adapter's own client (redis-driver.ts), any other store
 * through Keyv (keyv-driver.ts). Values stay in the format Keyv would give them, so Keyv (and releases that read
 * through it) read what a driver wrote. Drivers throw on failure: the store layer above catches, times and
 * reports (store/guarded-store.ts).
 */

export interface StoreEntry {
  readonly key: string;
  readonly value: string;
  /** Milliseconds; 0 or undefined keeps the entry until deleted. */
  readonly ttl?: number;
}

export interface StoreDriver {
  /** What it drives, for `String(store)` and the bench. */
  readonly kind: 'memory' | 'redis' | 'keyv';
  /** The values of `keys`, undefined where absent or expired. */
  getMany(keys: readonly string[]): Promise<readonly unknown[]>;
  setMany(entries: readonly StoreEntry[]): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * Reads `keys` and, in the same round trip, creates each key absent where `created` offers a value (tokens:
   * see reads/read-through.ts), with `ttl`; answers the values, created ones in place. Only where the store can
   * do both at once (Redis); elsewhere undefined, and the caller writes missing tokens itself.
   */
  readonly readCreating?: (keys: readonly string[], created: readonly (string | undefined)[], ttl: number) => Promise<readonly unknown[]>;
}

/** A store in this process's memory: the same calls, answered synchronously and never failing. */
export interface SyncDriver extends StoreDriver {
  peek(keys: readonly string[]): unknown[];
  write(entries: readonly StoreEntry[]): void;
  remove(keys: readonly string[]): void;
}
