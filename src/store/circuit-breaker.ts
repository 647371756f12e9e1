/** After a failure the store is checked again in the background: first after this long, then twice as long… */
export const CHECK_FIRST_MS = 100;
/** …up to this: at worst the cache stays bypassed this long after the store is back. */
export const CHECK_MAX_MS = 1_000;

export type BreakerState = 'closed' | 'open';

/**
 * The circuit breaker of one store. A failed call opens it: from then on calls fail at once (their lookups go
 * to the DB) instead of each waiting out the timeout, so an outage costs one timeout, not one per request.
 * While it is open, a timer runs a check (one call through the open breaker, given by the store's access) with
 * backoff; the first call that gets through closes it.
 *
 * The timer also retries flushes that did not reach the store (store/pending-flushes.ts) while the breaker is
 * closed, so there is one timer per store, never one per failure. After the app disconnects the Keyv the
 * breaker is suspended: no timer runs (a check would connect the store again) until the app makes a call.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #delay = CHECK_FIRST_MS;
  #timer: NodeJS.Timeout | undefined;
  #suspended = false;

  get state(): BreakerState {
    return this.#state;
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /** The app disconnected the store: no background work until it calls again (see `resume`). */
  get isSuspended(): boolean {
    return this.#suspended;
  }

  /**
   * A call failed: fail the next ones at once, and `check` the store in the background. While suspended (a
   * background check that was under way when the app disconnected failed) it stays closed: no check could run to
   * close it again, and the app's next call tries the store itself.
   */
  open(check: () => void): void {
    if (this.#suspended) return;
    this.#state = 'open';
    this.scheduleCheck(check);
  }

  /** A call got through: calls go to the store again, and the next failure starts the backoff afresh. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#delay = CHECK_FIRST_MS;
  }

  /** Runs `check` after the current backoff (unless a check is scheduled already), then doubles the backoff. */
  scheduleCheck(check: () => void): void {
    if (this.#timer || this.#suspended) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      check();
    }, this.#delay);
    this.#timer.unref();
    this.#delay = Math.min(this.#delay * 2, CHECK_MAX_MS);
  }

  /** Runs `check` now instead of on the timer. */
  checkNow(check: () => void): void {
    if (this.#suspended) return;
    this.cancelCheck();
    check();
  }

  cancelCheck(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The app disconnected the store: close (its next call tries the store itself) and stop the timer. */
  suspend(): void {
    this.#suspended = true;
    this.#state = 'closed';
    this.cancelCheck();
  }

  /** The app called the store again: background checks may run. */
  resume(): void {
    this.#suspended = false;
  }

  toString(): string {
    return this.#suspended ? 'suspended' : this.#state;
  }
}
