import type Keyv from 'keyv';
import type { CacheErrorHandler } from './options.js';

export interface StoreEntry {
  readonly key: string;
  readonly value: string;
  /** Milliseconds; 0 or undefined keeps the entry until deleted. */
  readonly ttl?: number;
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

  constructor(keyv: Keyv, timeout: number, onError: CacheErrorHandler, model: string) {
    this.keyv = keyv;
    this.timeout = timeout;
    this.onError = onError;
    this.model = model;
    forwardKeyvErrors(keyv, onError);
  }

  /** One batched read; `undefined` when the store failed. */
  getMany(keys: readonly string[]): Promise<readonly unknown[] | undefined> {
    return this.guard('getMany', () => this.keyv.getMany([...keys]), undefined);
  }

  async setMany(entries: readonly StoreEntry[]): Promise<boolean> {
    if (entries.length === 0) return true;
    const result = await this.guard(
      'setMany',
      () => this.keyv.setMany(entries.map(({ key, value, ttl }) => ({ key, value, ttl: ttl === 0 ? undefined : ttl }))),
      false,
    );
    return result !== false;
  }

  async deleteMany(keys: readonly string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    return (await this.guard('deleteMany', () => this.keyv.deleteMany([...keys]), false)) !== false;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.guard('delete', () => this.keyv.delete(key), false)) !== false;
  }

  private async guard<T, F>(operation: string, call: () => Promise<T>, fallback: F): Promise<T | F> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeout);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([call(), expired]);
      if (outcome === 'timeout') {
        this.report(new Error(`store ${operation} timed out after ${this.timeout} ms`), operation);
        return fallback;
      }
      return outcome;
    } catch (error) {
      this.report(error, operation);
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  private report(error: unknown, operation: string): void {
    try {
      this.onError(error, { operation, model: this.model });
    } catch {
      // A throwing error handler must not turn a good DB read into an error either.
    }
  }
}

const forwarded = new WeakSet<Keyv>();

/** Keyv swallows the errors of set, setMany and deleteMany and emits them instead; pass them on once per Keyv. */
function forwardKeyvErrors(keyv: Keyv, onError: CacheErrorHandler): void {
  if (forwarded.has(keyv)) return;
  forwarded.add(keyv);
  keyv.on('error', (error: unknown) => {
    try {
      onError(error, { operation: 'store' });
    } catch {
      // see GuardedStore.report
    }
  });
}
