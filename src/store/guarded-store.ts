import type Keyv from 'keyv';
import { LocalMap, ownMapOf } from './memory-store.js';
import type { CacheErrorHandler } from '../config/options.js';
import { redisUnlink, type Unlink } from './redis-unlink.js';

export interface StoreEntry {
  readonly key: string;
  readonly value: string;
  /** Milliseconds; 0 or undefined keeps the entry until deleted. */
  readonly ttl?: number;
}

/** Flushes that did not reach the store are kept (up to this many keys) and sent again. */
export const MAX_PENDING_KEYS = 100_000;
/** After a failure the store is checked again in the background: first after this long, then twice as long… */
const RETRY_FIRST_MS = 100;
/** …up to this: at worst the cache stays bypassed this long after the store is back. */
const RETRY_MAX_MS = 1_000;
/** What the background check reads when the failed call named no key. */
const CHECK_KEY = 'objection-cache:check';

/**
 * What one Keyv has been through, shared by every model that uses it. Keyv and its adapters mostly report
 * failures as `error` events and answer as if the key were absent; counting those events tells a failed call
 * from an empty answer. A flush that failed is kept in `pending` and sent again; until it lands, this process
 * reads from the DB only, so it never serves an entry it could not invalidate.
 *
 * A failed call opens the breaker: from then on calls fail at once (the DB answers) instead of each waiting out
 * the timeout, and a timer checks the store in the background with backoff. The first check that gets through
 * delivers the pending flushes and closes the breaker.
 */
class StoreHealth {
  errors = 0;
  readonly pending = new Set<string>();
  /** Generation and table version keys to delete instead, once `pending` overflowed: a flushAll of those models. */
  readonly pendingGenerations = new Set<string>();
  retryTimer: NodeJS.Timeout | undefined;
  retryDelay = RETRY_FIRST_MS;
  draining: Promise<boolean> | undefined;
  /** A call failed and no background check has got through since: calls fail at once. */
  open = false;
  /**
   * A key of the call that failed, for the check to read: on a Redis Cluster it lives on the node that failed,
   * so a check never passes on a healthy node while another is down.
   */
  checkKey = CHECK_KEY;
  /** A background check is under way: there is only ever one. */
  checking = false;
  /**
   * The app disconnected the Keyv: no background checks or retries (they would connect it again) until the app
   * makes a call of its own.
   */
  disconnected = false;

  get degraded(): boolean {
    return this.pending.size > 0 || this.pendingGenerations.size > 0;
  }
}

const healthByKeyv = new WeakMap<Keyv, StoreHealth>();

function healthOf(keyv: Keyv, onError: CacheErrorHandler): StoreHealth {
  let health = healthByKeyv.get(keyv);
  if (!health) {
    const created = (health = new StoreHealth());
    healthByKeyv.set(keyv, created);
    keyv.on('error', (error: unknown) => {
      created.errors++;
      report(onError, error, 'store');
    });
    keyv.on('disconnect', () => {
      created.disconnected = true;
      created.open = false; // the app's next call tries the store itself
      clearTimeout(created.retryTimer);
      created.retryTimer = undefined;
    });
  }
  return health;
}

function report(onError: CacheErrorHandler, error: unknown, operation: string, model?: string): void {
  try {
    onError(error, model === undefined ? { operation } : { operation, model });
  } catch {
    // A throwing error handler must not turn a good DB read into an error either.
  }
}

/**
 * A Keyv behind a time limit and an error report. No store failure reaches the caller: reads answer
 * `undefined` (the cache steps aside and the DB answers), writes answer `false`, and `onError` hears of each.
 */
export class GuardedStore {
  readonly keyv: Keyv;
  private readonly timeout: number;
  private readonly onError: CacheErrorHandler;
  private readonly model: string;
  private readonly health: StoreHealth;
  /** Set for a store made by `createMemoryStore`: read and written directly, synchronously, and never failing. */
  readonly local: LocalMap | undefined;
  private readonly unlink: Unlink | undefined;

  constructor(keyv: Keyv, timeout: number, onError: CacheErrorHandler, model: string) {
    this.keyv = keyv;
    this.timeout = timeout;
    this.onError = onError;
    this.model = model;
    this.health = healthOf(keyv, onError);
    const map = ownMapOf(keyv);
    this.local = map && new LocalMap(map);
    this.unlink = redisUnlink(keyv);
  }

  /** True after the app disconnected the Keyv, until its next call: nothing else may connect it again. */
  get closed(): boolean {
    return this.health.disconnected;
  }

  /** Reports a failure of the cache's own work (not a store call) the way store failures are: to `onError`. */
  reportFailure(error: unknown, operation: string): void {
    report(this.onError, error, operation, this.model);
  }

  /** True while a flush that failed has not been delivered: reads must then neither serve nor fill entries. */
  get degraded(): boolean {
    return this.health.degraded;
  }

  /**
   * Tries the pending flushes once more (unless the breaker is open: then the background check does); true
   * when none is left and the cache may be used again.
   */
  recover(): Promise<boolean> {
    return this.drain();
  }

  /** One batched read; `undefined` when the store failed. */
  async getMany(keys: readonly string[]): Promise<readonly unknown[] | undefined> {
    if (this.local) return this.local.peek(keys);
    const values = await this.guard('getMany', () => this.keyv.getMany([...keys]), { key: keys[0] });
    return values === FAILED ? undefined : values;
  }

  async setMany(entries: readonly StoreEntry[]): Promise<boolean> {
    if (entries.length === 0) return true;
    if (this.local) {
      this.local.setMany(entries);
      return true;
    }
    const written = await this.guard(
      'setMany',
      () => this.keyv.setMany(entries.map(({ key, value, ttl }) => ({ key, value, ttl: ttl === 0 ? undefined : ttl }))),
      { key: entries[0]?.key },
    );
    return written !== FAILED;
  }

  /**
   * Deletes `keys` in one call. A failure keeps them pending and schedules another try; it never throws. While
   * earlier flushes are pending, these join them and all go in one call.
   */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    return this.removeOrKeep('deleteMany', keys, this.health.pending);
  }

  /**
   * Deletes a model's generation token and table version (a flushAll), in one call; a failure keeps them
   * pending like a flush, where no overflow of single keys can drop them.
   */
  async delete(...keys: string[]): Promise<boolean> {
    return this.removeOrKeep('delete', keys, this.health.pendingGenerations);
  }

  /** Deletes `keys` now; when that fails (or earlier flushes are pending), keeps them in `pending` and drains. */
  private async removeOrKeep(operation: string, keys: readonly string[], pending: Set<string>): Promise<boolean> {
    if (this.local) {
      this.local.deleteMany(keys);
      return true;
    }
    if (!this.health.degraded) {
      if ((await this.guard(operation, () => this.remove(keys), { key: keys[0] })) !== FAILED) return true;
    }
    for (const key of keys) pending.add(key);
    this.capPending();
    if (this.health.open) {
      // Other processes may still serve entries this write made stale: check the store now rather than when the
      // backoff timer says, so that after a passing blip the flush lands within a round trip.
      this.checkNow();
      return false;
    }
    return this.drain();
  }

  /**
   * Sends every pending deletion in one call (and again for any that arrived meanwhile); one drain at a time,
   * later callers wait for it and go again. `check`: sent by the background check, through an open breaker.
   */
  private async drain(check = false): Promise<boolean> {
    const health = this.health;
    while (health.draining) await health.draining;
    while (health.degraded) {
      const keys = [...health.pending, ...health.pendingGenerations];
      const attempt = this.guard('deleteMany', () => this.remove(keys), { throughOpen: check, key: keys[0] }).then((result) => result !== FAILED);
      health.draining = attempt;
      const delivered = await attempt;
      health.draining = undefined;
      if (!delivered) {
        this.scheduleRetry();
        return false;
      }
      for (const key of keys) {
        health.pending.delete(key);
        health.pendingGenerations.delete(key);
      }
    }
    if (!health.open && health.retryTimer) {
      clearTimeout(health.retryTimer);
      health.retryTimer = undefined;
    }
    return true;
  }

  /** The background check: one read through the open breaker, then the pending flushes if it got through. */
  private async check(): Promise<void> {
    const health = this.health;
    if (health.checking || (!health.open && !health.degraded)) return;
    health.checking = true;
    try {
      // Its failures go unreported: the failure that opened the breaker was, and an outage would repeat it every second.
      const key = health.checkKey;
      if (health.open && (await this.guard('check', () => this.keyv.get(key), { throughOpen: true, quiet: true, key })) === FAILED) return;
      await this.drain(true);
    } finally {
      health.checking = false;
    }
  }

  /** Runs the background check now instead of on its timer (unless one is under way, or the app disconnected). */
  private checkNow(): void {
    const health = this.health;
    if (health.checking || health.disconnected) return;
    clearTimeout(health.retryTimer);
    health.retryTimer = undefined;
    void this.check();
  }

  /** One deletion call: native UNLINKs on Redis, Keyv's deleteMany elsewhere. */
  private async remove(keys: readonly string[]): Promise<unknown> {
    if (this.unlink) return this.unlink(keys);
    return keys.length === 1 ? this.keyv.delete(keys[0]!) : this.keyv.deleteMany([...keys]);
  }

  private scheduleRetry(): void {
    const health = this.health;
    if (health.retryTimer || health.disconnected) return;
    health.retryTimer = setTimeout(() => {
      health.retryTimer = undefined;
      void this.check();
    }, health.retryDelay);
    health.retryTimer.unref();
    health.retryDelay = Math.min(health.retryDelay * 2, RETRY_MAX_MS);
  }

  /** Past MAX_PENDING_KEYS, forget single keys and flush their models whole (delete generations and versions). */
  private capPending(): void {
    const health = this.health;
    if (health.pending.size <= MAX_PENDING_KEYS) return;
    for (const key of health.pending) {
      const tag = /^\{[^}]*\}/.exec(key)?.[0];
      if (tag) {
        health.pendingGenerations.add(`${tag}:gen`);
        health.pendingGenerations.add(`${tag}:tv`);
      }
    }
    health.pending.clear();
  }

  /**
   * Runs `call` under the time limit; FAILED when it threw, timed out or the store reported an error meanwhile.
   * A failure opens the breaker; while it is open, calls fail at once (their lookups go to the DB), so an outage
   * costs one timeout, not one per request. Only the background check goes through an open breaker
   * (`throughOpen`); any call that succeeds closes it. `quiet`: failures are not reported to onError. `key`: one
   * of the call's keys, for the check to read.
   */
  private async guard<T>(
    operation: string,
    call: () => Promise<T>,
    how: { throughOpen?: boolean; quiet?: boolean; key?: string } = {},
  ): Promise<T | typeof FAILED> {
    const health = this.health;
    if (!how.throughOpen) health.disconnected = false;
    if (health.open && !how.throughOpen) return FAILED;
    const errorsBefore = health.errors;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.timeout);
      timer.unref();
    });
    const attempt = Promise.race([call(), expired]);
    let result: T | typeof FAILED = FAILED;
    try {
      const outcome = await attempt;
      if (outcome === TIMED_OUT) {
        if (!how.quiet) report(this.onError, new Error(`store ${operation} timed out after ${this.timeout} ms`), operation, this.model);
      } else if (health.errors === errorsBefore) {
        result = outcome;
      }
    } catch (error) {
      if (!how.quiet) report(this.onError, error, operation, this.model);
    } finally {
      clearTimeout(timer);
    }
    if (result === FAILED) {
      health.open = true;
      health.checkKey = how.key ?? CHECK_KEY;
      this.scheduleRetry();
    } else if (health.open) {
      health.open = false;
      health.retryDelay = RETRY_FIRST_MS;
    }
    return result;
  }
}

const TIMED_OUT = Symbol('timed out');
const FAILED = Symbol('failed');
