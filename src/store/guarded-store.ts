import type Keyv from 'keyv';
import { observed, publish } from '../core/events.js';
import type { BoundedMap } from '../core/bounded-map.js';
import { STORE_CHECK_KEY } from '../core/keys.js';
import { newToken } from '../core/tokens.js';
import type { CacheErrorHandler, CacheEventMap, CacheEventName, LocalCacheOptions } from '../core/public-types.js';
import type { StoreEntry } from '../driver/driver.js';
import { CacheStore, publishError, report } from './cache-store.js';
import { Deadline, Deadlines } from './deadlines.js';
import type { LocalTier } from './local-tier.js';

export type { StoreEntry };

/** Keys read from process memory, synchronously: a store in memory, or the local tier in front of Redis. */
export interface Peekable {
  peek(keys: readonly string[]): unknown[];
}

/** What a read answers when the store failed, timed out or its breaker is open: the DB answers instead. */
export const STORE_DOWN = Symbol('objection-cache: store down');
export type StoreDown = typeof STORE_DOWN;

/** What a call answers while the breaker is open: one settled promise for all of them. */
const DOWN: Promise<StoreDown> = Promise.resolve(STORE_DOWN);

interface CallOptions {
  /** The background check: the one call that goes through an open breaker. */
  readonly throughOpen?: boolean;
  /** Failures are not reported (the failure that opened the breaker was; an outage would repeat it). */
  readonly quiet?: boolean;
}

const NO_OPTIONS: CallOptions = {};

/**
 * One model's access to a store (its state is the Keyv's `CacheStore`): every call under the model's time limit,
 * its failures reported to the model's `onError`. No store failure reaches the caller: reads answer STORE_DOWN
 * (the cache steps aside and the DB answers), writes answer `false`.
 *
 * A flush that failed is kept in the store's pending flushes and sent again; until it lands, this process reads
 * from the DB only, so it never serves an entry it could not invalidate. A failure opens the breaker; the
 * background check that gets through delivers the pending flushes, and a call that succeeds closes it.
 */
export class GuardedStore {
  readonly state: CacheStore;
  /** The model (class name) and table its events and errors name. */
  readonly model: string;
  readonly table: string;
  /** The time limit of this model's calls, in ms, and the calls under way. */
  readonly timeout: number;
  readonly deadlines: Deadlines;
  private readonly onError: CacheErrorHandler;
  /** The model asked for the local tier (and the store has one: not in memory, not disconnected). */
  private readonly usesTier: boolean;

  constructor(keyv: Keyv, timeout: number, onError: CacheErrorHandler, model: string, table: string, localCache?: LocalCacheOptions) {
    this.state = CacheStore.of(keyv, onError, model, table);
    this.timeout = timeout;
    this.deadlines = new Deadlines(timeout);
    this.onError = onError;
    this.model = model;
    this.table = table;
    this.usesTier = localCache !== undefined && this.state.localTier(localCache, model) !== undefined;
  }

  /** The local tier this model reads through, if any. */
  get tier(): LocalTier | undefined {
    return this.usesTier ? this.state.tier : undefined;
  }

  get keyv(): Keyv {
    return this.state.keyv;
  }

  /**
   * What answers from process memory: a store in memory, or the local tier while the breaker is closed (an open
   * breaker means invalidations may have been missed).
   */
  get local(): Peekable | undefined {
    if (this.state.local) return this.state.local;
    const tier = this.tier;
    return tier && !this.state.breaker.isOpen ? tier : undefined;
  }

  /** True after the app disconnected the Keyv, until its next call: nothing else may connect it again. */
  get closed(): boolean {
    return this.state.breaker.isSuspended;
  }

  /** True while a flush that failed has not been delivered: reads must then neither serve nor fill entries. */
  get degraded(): boolean {
    return this.state.degraded;
  }

  /** Reports a failure (of a store call, or of the cache's own work) to `onError` and as an `error` event. */
  reportFailure(error: unknown, operation: string): void {
    report(this.onError, error, operation, this.model);
    publishError(this.onError, error, { operation, model: this.model, table: this.table }, this.model);
  }

  /** Sends an event (the caller checked `observed`); a listener that throws is reported, never thrown. */
  publish<K extends CacheEventName>(name: K, message: CacheEventMap[K]): void {
    const thrown = publish(name, message);
    if (thrown !== undefined) this.reportFailure(thrown, 'listener');
  }

  /**
   * Tries the pending flushes once more (unless the breaker is open: then the background check does); true
   * when none is left and the cache may be used again.
   */
  recover(): Promise<boolean> {
    return this.deliverPending();
  }

  /** One batched read: from the local tier when it holds every key, else from the store (through the tier). */
  async getMany(keys: readonly string[]): Promise<readonly unknown[] | StoreDown> {
    const state = this.state;
    if (state.local) return state.local.peek(keys);
    const tier = this.tier;
    if (tier && state.tierDriver) {
      if (!state.breaker.isOpen) {
        const kept = tier.peek(keys);
        if (tier.holds(kept)) return kept;
      }
      const driver = state.tierDriver;
      return this.readThroughTier(tier, keys, () => driver.getMany(keys));
    }
    return this.call('getMany', () => state.driver.getMany(keys), keys[0]);
  }

  /** True where a read can create missing tokens in the same round trip (`readCreating`): Redis. */
  get createsTokens(): boolean {
    return this.state.driver.readCreating !== undefined;
  }

  /**
   * Reads `keys` and creates the absent tokens among them (`isTokenAt`) in one round trip (see `createsTokens`),
   * each with a fresh token. Tokens this process saw present are not offered (`presentTokens`): a hot key's read
   * is then one MGET. One found absent after all answers undefined, as in `getMany`, and the caller creates it
   * before its DB read.
   */
  readCreating(keys: readonly string[], isTokenAt: (index: number) => boolean, ttl: number): Promise<readonly unknown[] | StoreDown> {
    const tier = this.tier;
    const driver = (tier && this.state.tierDriver) || this.state.driver;
    const read = driver.readCreating;
    if (!read) return this.getMany(keys);
    const present = this.state.presentTokens;
    const offers = tokenOffers(keys, isTokenAt, present);
    const fetch = offers ? () => read(keys, offers, ttl) : () => driver.getMany(keys);
    const answer = tier ? this.readThroughTier(tier, keys, fetch) : this.call('getMany', fetch, keys[0]);
    return offers ? answer.then((values) => this.notePresent(keys, offers, values)) : answer;
  }

  /** Remembers which offered tokens the store holds now (`presentTokens`), and which it did not keep. */
  private notePresent(
    keys: readonly string[],
    offers: readonly (string | undefined)[],
    answer: readonly unknown[] | StoreDown,
  ): readonly unknown[] | StoreDown {
    if (answer === STORE_DOWN) return answer;
    const present = this.state.presentTokens;
    offers.forEach((offer, i) => {
      if (offer === undefined) return;
      const key = keys[i]!;
      if (answer[i] === undefined) present.delete(key);
      else if (!present.has(key)) present.set(key, true);
    });
    return answer;
  }

  private readThroughTier(tier: LocalTier, keys: readonly string[], fetch: () => Promise<readonly unknown[]>): Promise<readonly unknown[] | StoreDown> {
    return tier.read(keys, () => this.call('getMany', fetch, keys[0])) as Promise<readonly unknown[] | StoreDown>;
  }

  async setMany(entries: readonly StoreEntry[]): Promise<boolean> {
    if (entries.length === 0) return true;
    const state = this.state;
    if (state.local) {
      state.local.write(entries);
      return true;
    }
    state.tier?.drop(entries.map((entry) => entry.key));
    return (await this.call('setMany', () => state.driver.setMany(entries), entries[0]?.key)) !== STORE_DOWN;
  }

  /**
   * Deletes entry and guard keys in one call. A failure keeps them pending and schedules another try; it never
   * throws. While earlier flushes are pending, these join them and all go in one call.
   */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    return this.deleteOrKeep('deleteMany', keys, (pending) => pending.addKeys(keys));
  }

  /**
   * Deletes generation and table tokens (a flushAll) in one call; a failure keeps them pending like a flush,
   * where no overflow of single keys can drop them.
   */
  async deleteTokens(keys: readonly string[]): Promise<boolean> {
    return this.deleteOrKeep('delete', keys, (pending) => pending.addTokens(keys));
  }

  /** Deletes `keys` now; when that fails (or earlier flushes are pending), keeps them pending and delivers. */
  private async deleteOrKeep(operation: string, keys: readonly string[], keep: (pending: CacheStore['pendingFlushes']) => void): Promise<boolean> {
    const started = observed('flush') ? performance.now() : 0;
    const deletion = this.deleteNowOrKeep(operation, keys, keep);
    const { deletions } = this.state;
    deletions.add(deletion);
    const delivered = await deletion.finally(() => deletions.delete(deletion));
    if (started) {
      this.publish('flush', { model: this.model, table: this.table, operation, keys: keys.length, delivered, duration: performance.now() - started });
    }
    return delivered;
  }

  private async deleteNowOrKeep(operation: string, keys: readonly string[], keep: (pending: CacheStore['pendingFlushes']) => void): Promise<boolean> {
    const state = this.state;
    if (state.local) {
      state.local.remove(keys);
      return true;
    }
    // read-your-writes in this process: no local copy outlives the write's await, whatever the store answers
    state.tier?.drop(keys);
    // the next read of these keys offers their tokens again, so a cold fill stays one round trip before the DB
    for (const key of keys) state.presentTokens.delete(key);
    if (!state.degraded && (await this.call(operation, () => this.remove(keys), keys[0])) !== STORE_DOWN) return true;
    keep(state.pendingFlushes);
    if (state.breaker.isOpen) {
      // Other processes may still serve entries this write made stale: check the store now rather than when the
      // backoff timer says, so that after a passing blip the flush lands within a round trip.
      if (!state.checking) state.breaker.checkNow(this.check);
      return false;
    }
    return this.deliverPending();
  }

  /**
   * Sends every pending deletion in one call (and again for any that arrived meanwhile); one delivery at a time,
   * later callers wait for it and go again. `throughOpen`: sent by the background check.
   */
  private async deliverPending(throughOpen = false): Promise<boolean> {
    const pending = this.state.pendingFlushes;
    while (pending.delivery) await pending.delivery;
    while (!pending.isEmpty) {
      const keys = pending.all();
      const started = observed('flush') ? performance.now() : 0;
      const attempt = this.call('deleteMany', () => this.remove(keys), keys[0], { throughOpen }).then((result) => result !== STORE_DOWN);
      pending.delivery = attempt;
      const delivered = await attempt;
      pending.delivery = undefined;
      if (started) {
        this.publish('flush', {
          model: this.model,
          table: this.table,
          operation: 'redeliver',
          keys: keys.length,
          delivered,
          duration: performance.now() - started,
        });
      }
      if (!delivered) {
        this.state.breaker.scheduleCheck(this.check);
        return false;
      }
      pending.delivered(keys);
    }
    if (!this.state.breaker.isOpen) this.state.breaker.cancelCheck();
    return true;
  }

  /** The background check: one read through the open breaker, then the pending flushes if it got through. */
  private readonly check = (): void => {
    void this.runCheck();
  };

  private async runCheck(): Promise<void> {
    const state = this.state;
    if (state.checking || (!state.breaker.isOpen && !state.degraded)) return;
    state.checking = true;
    try {
      const key = state.checkKey ?? STORE_CHECK_KEY;
      if (state.breaker.isOpen && (await this.call('check', () => state.keyv.get(key), key, { throughOpen: true, quiet: true })) === STORE_DOWN) return;
      await this.deliverPending(true);
    } finally {
      state.checking = false;
    }
  }

  /** One deletion call (native UNLINKs on Redis). */
  private remove(keys: readonly string[]): Promise<void> {
    return this.state.driver.deleteMany(keys);
  }

  /**
   * Runs `call` under the time limit; STORE_DOWN when it threw, timed out or the store reported an error
   * meanwhile, or when the breaker is open. A failure opens the breaker; a success closes it. One promise per
   * call, settled by the call or its deadline: every hit goes through here, and each `await` or `Promise.race`
   * was one more promise job on it. `key`, one of the call's keys, is what the background check reads.
   */
  private call<T>(operation: string, call: () => Promise<T>, key: string | undefined, options: CallOptions = NO_OPTIONS): Promise<T | StoreDown> {
    const { breaker } = this.state;
    if (!options.throughOpen) breaker.resume();
    if (breaker.isOpen && !options.throughOpen) return DOWN;
    const timed = new StoreCall<T>(this, operation, key, options);
    this.deadlines.start(timed);
    let started: Promise<T>;
    try {
      started = call();
    } catch (error) {
      timed.finish(STORE_DOWN, error);
      return timed.answer;
    }
    started.then(
      (result) => timed.finish(result),
      (error: unknown) => timed.finish(STORE_DOWN, error ?? new Error(`store ${operation} failed`)),
    );
    return timed.answer;
  }

  /** A call's result (`StoreCall`), once the breaker has heard of it: a failure opens it, a success closes it. */
  settled<T>(operation: string, result: T | StoreDown, key: string | undefined): T | StoreDown {
    const { breaker } = this.state;
    const wasOpen = breaker.isOpen;
    if (result === STORE_DOWN) {
      // a connection that failed may have missed invalidations: the local tier forgets all it holds
      this.state.tier?.forgetAll();
      this.state.checkKey = key;
      breaker.open(this.check);
    } else {
      breaker.close();
    }
    if (wasOpen !== breaker.isOpen && observed('breaker')) {
      this.publish('breaker', { model: this.model, table: this.table, operation, state: breaker.isOpen ? 'open' : 'closed' });
    }
    return result;
  }
}

/**
 * One store call under way (`GuardedStore.call`): its deadline, and the promise it settles once, by its result
 * or by its time running out, whichever comes first.
 */
class StoreCall<T> extends Deadline {
  readonly answer: Promise<T | StoreDown>;
  private resolve!: (result: T | StoreDown) => void;
  /** The store's count of reported errors when the call started: one reported meanwhile fails the call. */
  private readonly errorsBefore: number;

  constructor(
    private readonly guarded: GuardedStore,
    private readonly operation: string,
    private readonly key: string | undefined,
    private readonly options: CallOptions,
  ) {
    super();
    this.errorsBefore = guarded.state.errors;
    this.answer = new Promise<T | StoreDown>((resolve) => {
      this.resolve = resolve;
    });
  }

  expire(): void {
    const { guarded, operation } = this;
    if (!this.options.quiet) guarded.reportFailure(new Error(`store ${operation} timed out after ${guarded.timeout} ms`), operation);
    this.resolve(guarded.settled(operation, STORE_DOWN, this.key));
  }

  /** The call answered (or failed: `error`); nothing happens once it expired. */
  finish(result: T | StoreDown, error?: unknown): void {
    if (this.ended) return;
    const { guarded, operation } = this;
    guarded.deadlines.end(this);
    if (error !== undefined && !this.options.quiet) guarded.reportFailure(error, operation);
    this.resolve(guarded.settled(operation, guarded.state.errors === this.errorsBefore ? result : STORE_DOWN, this.key));
  }
}

/** A fresh token for each token key not known to be present; undefined when every one is (a hot key's read). */
function tokenOffers(keys: readonly string[], isTokenAt: (index: number) => boolean, present: BoundedMap<string, true>): (string | undefined)[] | undefined {
  let offers: (string | undefined)[] | undefined;
  for (let i = 0; i < keys.length; i++) {
    if (isTokenAt(i) && !present.has(keys[i]!)) (offers ??= new Array<string | undefined>(keys.length).fill(undefined))[i] = newToken();
  }
  return offers;
}
