import type Keyv from 'keyv';
import { observed, publish } from '../core/events.js';
import { BoundedMap } from '../core/bounded-map.js';
import { keyvMapOf, keyvRedisOf } from '../core/internals.js';
import { REMEMBERED_KEYS } from '../core/keys.js';
import type { CacheErrorHandler, LocalCacheOptions } from '../core/public-types.js';
import type { StoreDriver, SyncDriver } from '../driver/driver.js';
import { KeyvDriver } from '../driver/keyv-driver.js';
import { MemoryDriver } from '../driver/memory-driver.js';
import { RedisDriver } from '../driver/redis-driver.js';
import { openTracking, type Tracking } from '../driver/redis-tracking.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { InFlight } from './in-flight.js';
import { LocalTier } from './local-tier.js';
import { PendingFlushes } from './pending-flushes.js';
import { TableCatalog } from './table-catalog.js';

/**
 * Everything the library holds for one Keyv, shared by every model (and `cached()` value) that uses it: the
 * driver, the breaker, the flushes that did not reach the store, the reads under way, the tables it keeps
 * entries of, and the local tier. One per Keyv instance (`CacheStore.of`); the models' access to it, with their
 * own timeouts and error handlers, is store/guarded-store.ts. Print it (`String(store)`) to see its state.
 */
export class CacheStore {
  readonly keyv: Keyv;
  /** How entries are read, written and deleted (driver/). */
  readonly driver: StoreDriver;
  /** Set for a store in this process's memory: read and written directly, synchronously, and never failing. */
  readonly local: SyncDriver | undefined;
  /** Opened by a failed call; checks the store in the background until a call gets through. */
  readonly breaker = new CircuitBreaker();
  /** Deletions that failed, sent again; while any is left the cache is bypassed for this store. */
  readonly pendingFlushes = new PendingFlushes();
  /** Row fills and value computations under way in this process (single flight). */
  readonly inFlight = new InFlight();
  /** The tables this store keeps entries of, their owners and key columns, per prefix. */
  readonly tables = new TableCatalog();
  /**
   * Token keys (guards, generations) this process last saw present in the store, and has not deleted since. A
   * read that creates missing tokens in its round trip (`readCreating`) offers none for these, so a hit is one
   * MGET. A guess only: a token another process deleted is found absent by that MGET and created before the DB
   * read all the same, one round trip later.
   */
  readonly presentTokens = new BoundedMap<string, true>(PRESENT_TOKENS_REMEMBERED);
  /** The local tier (`localCache`), made by the first model that asks; with it, reads go through `tierDriver`. */
  tier: LocalTier | undefined;
  tierDriver: StoreDriver | undefined;
  private tracking: Tracking | undefined;
  /**
   * `error` events the Keyv emitted. Keyv and its adapters mostly report failures that way and answer as if the
   * key were absent: a call through Keyv during which the count moved failed.
   */
  errors = 0;
  /** Deletions sent and not yet answered: a consistency check lets this process's racing flushes land first. */
  readonly deletions = new Set<Promise<unknown>>();
  /** A background check is under way: there is only ever one. */
  checking = false;
  /**
   * A key of the call that failed, for the background check to read: on a Redis Cluster it lives on the node
   * that failed, so a check never passes on a healthy node while another is down.
   */
  checkKey: string | undefined;

  private constructor(keyv: Keyv) {
    this.keyv = keyv;
    const map = keyvMapOf(keyv);
    const redis = map ? undefined : keyvRedisOf(keyv);
    this.local = map && new MemoryDriver(map);
    this.driver = this.local ?? (redis ? new RedisDriver(redis) : new KeyvDriver(keyv));
  }

  /**
   * The state of `keyv`, made on first use. The first user's `onError` (and model and table, in `error` events)
   * hears the errors the Keyv emits: they belong to no one call.
   */
  static of(keyv: Keyv, onError: CacheErrorHandler, model = '', table = ''): CacheStore {
    let store = stores.get(keyv);
    if (!store) {
      const created = (store = new CacheStore(keyv));
      stores.set(keyv, created);
      keyv.on('error', (error: unknown) => {
        created.errors++;
        report(onError, error, 'store');
        publishError(onError, error, { operation: 'store', model, table });
      });
      // the app disconnected it: nothing may connect it again in the background, and the tier's connection goes
      keyv.on('disconnect', () => {
        created.breaker.suspend();
        void created.closeTier();
      });
    }
    return store;
  }

  /**
   * The local tier for `options` (one per store): undefined on a store in this process's memory (local already).
   * Throws a TypeError naming `model` on a store that cannot say what changed, or for options other than the
   * tier's.
   */
  localTier(options: LocalCacheOptions, model: string): LocalTier | undefined {
    if (this.local) return undefined;
    if (this.tier) {
      if (this.tier.options.maxEntries !== options.maxEntries || this.tier.options.ttl !== options.ttl) {
        throw new TypeError(
          `${model}: localCache ${JSON.stringify(options)} differs from ${JSON.stringify(this.tier.options)}, which another model set on the same store (one local tier per store)`,
        );
      }
      return this.tier;
    }
    const redis = keyvRedisOf(this.keyv);
    if (!(this.driver instanceof RedisDriver) || !redis) {
      throw new TypeError(`${model}: localCache needs a Redis store (a Keyv over @keyv/redis), which tells this process what changed; this store cannot`);
    }
    const tier = new LocalTier(options);
    const tracking = openTracking(redis, tier);
    this.tier = tier;
    this.tracking = tracking;
    this.tierDriver = this.driver.readingThrough(tracking.client);
    return tier;
  }

  private async closeTier(): Promise<void> {
    const tracking = this.tracking;
    this.tier = this.tierDriver = this.tracking = undefined;
    await tracking?.close();
  }

  /** True while a flush that failed has not been delivered: reads must then neither serve nor fill entries. */
  get degraded(): boolean {
    return !this.pendingFlushes.isEmpty;
  }

  toString(): string {
    const tier = this.tier ? `, local tier of ${this.tier.size} keys` : '';
    return (
      `CacheStore(${this.driver.kind}: breaker ${String(this.breaker)}, ${this.pendingFlushes.size} pending flush keys, ` +
      `${this.inFlight.fillsRunning} fills and ${this.inFlight.computations.size} computations in flight, ${this.tables.size} tables${tier})`
    );
  }
}

/**
 * Hot keys' tokens are what matters; past this many, the ones seen longest ago are offered again (as every read
 * did before). As many as the other memos of hot keys (core/keys.ts): a few hundred KiB, where 65,536 cost a
 * process reading 100,000 distinct keys 30 MiB of heap (test/memory.test.ts).
 */
const PRESENT_TOKENS_REMEMBERED = REMEMBERED_KEYS;

/** The one map from a Keyv to its state: a Keyv is the app's object, the library keeps nothing on it. */
const stores = new WeakMap<Keyv, CacheStore>();

/**
 * Sends a failure (already reported to `onError`) as an `error` event, where someone listens. A throwing `error`
 * listener goes to `onError` only: reporting it as an event could loop.
 */
export function publishError(
  onError: CacheErrorHandler,
  error: unknown,
  about: { readonly operation: string; readonly model: string; readonly table: string },
  handlerModel?: string,
): void {
  if (!observed('error')) return;
  const thrown = publish('error', { ...about, error });
  if (thrown !== undefined) report(onError, thrown, 'listener', handlerModel);
}

/** Hands a failure to the app's handler; a handler that throws must not turn a good DB read into an error. */
export function report(onError: CacheErrorHandler, error: unknown, operation: string, model?: string): void {
  try {
    onError(error, model === undefined ? { operation } : { operation, model });
  } catch {
    // ignored: see above
  }
}
