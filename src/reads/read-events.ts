import { observed } from '../core/events.js';
import type { CacheEventKind } from '../core/public-types.js';
import type { GuardedStore } from '../store/guarded-store.js';

/**
 * The events of reads (hit, miss, fill), for rows, cached queries and `cached()` values alike. Every function
 * here is called only where `readsObserved()` (core/events.ts) said someone listens, so a read without listeners builds no message and
 * reads no clock.
 */

/** What the events of one read name. */
export interface ReadContext {
  readonly store: GuardedStore;
  readonly model: string;
  readonly table: string;
  readonly operation: string;
  readonly kind: CacheEventKind;
  readonly column?: string;
}

/** Where a shared read's answer came from, for the callers that joined it. */
export interface ReadSource {
  readonly fromCache: boolean;
  readonly found: boolean;
  readonly duration: number;
}

/** A clock reading, or 0 when nobody listens. */
export function clock(on: boolean): number {
  return on ? performance.now() : 0;
}

/** One requested key (or query, or value) answered: a hit from the cache, or a miss that went to the DB. */
export function served(read: ReadContext, key: string | number | bigint | undefined, source: ReadSource, joined: boolean): void {
  const name = source.fromCache ? 'hit' : 'miss';
  if (!observed(name)) return;
  const { store, model, table, operation, kind, column } = read;
  const about = {
    model,
    table,
    operation,
    kind,
    joined,
    duration: source.duration,
    ...(column === undefined ? {} : { column }),
    ...(key === undefined ? {} : { key }),
  };
  if (source.fromCache) store.publish('hit', { ...about, found: source.found });
  else store.publish('miss', about);
}

/** One store write of entries after a read. */
export function filled(read: ReadContext, entries: number, duration: number): void {
  if (entries === 0 || !observed('fill')) return;
  read.store.publish('fill', { model: read.model, table: read.table, operation: read.operation, kind: read.kind, entries, duration });
}

/** Where a shared read's answer came from, filled in once known. */
export interface SourceHolder {
  source?: ReadSource;
}

/** Sources of shared reads, by the promise callers join. */
const sources = new WeakMap<Promise<unknown>, SourceHolder>();

/** Notes where `shared`'s answer comes from (the holder may be filled in later, before `shared` settles). */
export function noteSource(shared: Promise<unknown>, holder: SourceHolder): void {
  sources.set(shared, holder);
}

/** Reports a caller that joined `shared` once it settles, as a hit or a miss like the read it joined. */
export function joined(read: ReadContext, key: string | number | bigint | undefined, shared: Promise<unknown>): void {
  shared.then(
    () => served(read, key, sources.get(shared)?.source ?? { fromCache: false, found: true, duration: 0 }, true),
    () => undefined,
  );
}
