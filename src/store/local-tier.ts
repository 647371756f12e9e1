import { BoundedMap } from '../core/bounded-map.js';
import type { LocalCacheOptions } from '../core/public-types.js';

interface Kept {
  readonly value: unknown;
  /** Local expiry (ms since the epoch): the tier's `ttl` after the read that brought it. */
  readonly until: number;
}

/**
 * The local tier: a bounded, short-lived copy in this process of store keys (entries and the tokens that stamp
 * them) that this process read from Redis through its tracking connection, so hot keys are served from memory.
 * It is a mirror, not a cache of its own: a key is kept exactly as Redis gave it, and dropped when Redis says it
 * changed (`invalidate`), when this process writes or deletes it (`drop`, before the write's `await` returns),
 * and all at once when invalidations may have been missed (`forgetAll`: a connection broke, a cluster is being
 * rediscovered, the breaker opened). A record found here is checked against its stamps like one read from
 * Redis, so dropping a guard, a generation or a table token drops every entry that depends on it.
 *
 * A read races with invalidations: Redis may push one for a key while the read's answer is on its way (the
 * answer and the push can reach this process in either order). So a read registers its keys first (`read`),
 * an invalidation of a key under read spoils it, and the answer keeps only keys no invalidation or
 * `forgetAll` touched meanwhile.
 */
export class LocalTier {
  readonly options: LocalCacheOptions;
  private readonly kept: BoundedMap<string, Kept>;
  /** Keys under read, and how many reads each. */
  private readonly reading = new Map<string, number>();
  /** Keys under read that an invalidation reached: their answers are not kept. */
  private readonly spoiled = new Set<string>();
  /** Moved by every `forgetAll`: an answer to a read begun before is not kept. */
  private epoch = 0;

  constructor(options: LocalCacheOptions) {
    this.options = options;
    this.kept = new BoundedMap(options.maxEntries);
  }

  get size(): number {
    return this.kept.size;
  }

  /** The values kept for `keys`, undefined where none is (or it expired). */
  peek(keys: readonly string[]): unknown[] {
    const now = Date.now();
    return keys.map((key) => {
      const kept = this.kept.get(key);
      if (kept === undefined) return undefined;
      if (kept.until < now) {
        this.kept.delete(key);
        return undefined;
      }
      return kept.value;
    });
  }

  /** True when every one of `keys` is kept. */
  holds(values: readonly unknown[]): boolean {
    return values.every((value) => value !== undefined);
  }

  /** Reads `keys` from Redis through `fetch` and keeps the answers that no invalidation overtook. */
  async read(keys: readonly string[], fetch: () => Promise<readonly unknown[] | symbol>): Promise<readonly unknown[] | symbol> {
    const epoch = this.epoch;
    for (const key of keys) this.reading.set(key, (this.reading.get(key) ?? 0) + 1);
    try {
      const values = await fetch();
      if (typeof values !== 'symbol' && epoch === this.epoch) {
        const until = Date.now() + this.options.ttl;
        keys.forEach((key, i) => {
          const value = values[i];
          if (value !== undefined && !this.spoiled.has(key)) this.kept.set(key, { value, until });
        });
      }
      return values;
    } finally {
      for (const key of keys) {
        const left = this.reading.get(key)! - 1;
        if (left > 0) {
          this.reading.set(key, left);
        } else {
          this.reading.delete(key);
          this.spoiled.delete(key);
        }
      }
    }
  }

  /** Redis says `key` changed. */
  invalidate(key: string): void {
    this.kept.delete(key);
    if (this.reading.has(key)) this.spoiled.add(key);
  }

  /** This process wrote or deleted `keys`. */
  drop(keys: readonly string[]): void {
    for (const key of keys) this.invalidate(key);
  }

  /** Invalidations may have been missed: nothing kept, and no read under way keeps its answer. */
  forgetAll(): void {
    this.kept.clear();
    this.epoch++;
  }
}
