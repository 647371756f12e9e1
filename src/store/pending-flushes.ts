import { tagOf, tokenKeysOf } from '../core/keys.js';

/** Flushes that did not reach the store are kept (up to this many keys) and sent again. */
export const MAX_PENDING_KEYS = 100_000;

/**
 * The flushes of one store that did not reach it: deletions to send again. While any is pending the process
 * neither serves nor fills entries of that store (it could serve one it failed to invalidate). Past
 * MAX_PENDING_KEYS single keys are traded for their models' generation and table tokens, which flush more but
 * never less, so the queue stays bounded through a long outage of a busy app.
 */
export class PendingFlushes {
  /** Entry and guard keys. */
  readonly #keys = new Set<string>();
  /** Generation and table tokens: a flushAll, or single keys traded past the cap. Never dropped by the cap. */
  readonly #tokens = new Set<string>();
  /** The delivery under way, if any: one at a time, later callers wait for it and go again. */
  delivery: Promise<boolean> | undefined;

  get isEmpty(): boolean {
    return this.#keys.size === 0 && this.#tokens.size === 0;
  }

  get size(): number {
    return this.#keys.size + this.#tokens.size;
  }

  /** Keeps single keys to delete; past the cap they become their models' tokens. */
  addKeys(keys: Iterable<string>): void {
    for (const key of keys) this.#keys.add(key);
    if (this.#keys.size <= MAX_PENDING_KEYS) return;
    for (const key of this.#keys) {
      const tag = tagOf(key);
      if (tag) for (const token of tokenKeysOf(tag)) this.#tokens.add(token);
    }
    this.#keys.clear();
  }

  /** Keeps generation and table tokens to delete. */
  addTokens(keys: Iterable<string>): void {
    for (const key of keys) this.#tokens.add(key);
  }

  /** Every key waiting, for one deletion call. */
  all(): string[] {
    return [...this.#keys, ...this.#tokens];
  }

  /** Forgets `keys`: they reached the store. */
  delivered(keys: Iterable<string>): void {
    for (const key of keys) {
      this.#keys.delete(key);
      this.#tokens.delete(key);
    }
  }
}
