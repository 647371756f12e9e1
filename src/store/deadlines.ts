/**
 * One call being timed, and its node in the list of its `Deadlines`: `expire` runs if it is still running when
 * its time is up. The call is the node (store/guarded-store.ts `StoreCall`): a hit on Redis makes one object for
 * its call, not a node, a closure and the call's own.
 */
export abstract class Deadline {
  at = 0;
  previous: Deadline | undefined = undefined;
  next: Deadline | undefined = undefined;
  /** Ended (finished or expired): nothing more happens to it. */
  ended = false;

  abstract expire(): void;
}

/**
 * The time limit of a model's store calls, for every call under way at once: one timer, for the oldest. Calls
 * share one limit, so they expire in the order they started, and a call that starts or ends touches a list, not
 * the event loop's timers: a timer per call (`setTimeout`, `unref`, `clearTimeout`) was a measurable part of a
 * Redis hit. The timer wakes at the oldest call's deadline; calls that ended by then cost it nothing, and it
 * sleeps again until the deadline of the oldest call still running. Unref'd, like every timer of the cache.
 */
export class Deadlines {
  private readonly ms: number;
  private oldest: Deadline | undefined;
  private newest: Deadline | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** Times a call that starts now: its `expire` runs in `ms` unless `end` comes first. */
  start(deadline: Deadline): void {
    deadline.at = performance.now() + this.ms;
    deadline.previous = this.newest;
    if (this.newest) this.newest.next = deadline;
    else this.oldest = deadline;
    this.newest = deadline;
    if (!this.timer) this.wakeIn(this.ms);
  }

  /** The call finished in time (or expired: then this does nothing). */
  end(deadline: Deadline): void {
    if (deadline.ended) return;
    deadline.ended = true;
    const { previous, next } = deadline;
    if (previous) previous.next = next;
    else this.oldest = next;
    if (next) next.previous = previous;
    else this.newest = previous;
    deadline.previous = deadline.next = undefined;
  }

  private wakeIn(ms: number): void {
    this.timer = setTimeout(this.wake, Math.max(0, ms));
    this.timer.unref();
  }

  private readonly wake = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (let due = this.oldest; due && due.at <= now; due = this.oldest) {
      this.end(due);
      due.expire();
    }
    if (this.oldest) this.wakeIn(this.oldest.at - now);
  };
}
