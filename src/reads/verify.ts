import type { Knex } from 'knex';
import type { Model } from 'objection';
import { decodeRow, type CacheRecord } from '../core/codec.js';
import { observed } from '../core/events.js';
import type { EntryKeys } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { asToken } from '../core/tokens.js';
import type { ModelCache } from '../config/settings.js';
import { STORE_DOWN } from '../store/guarded-store.js';
import type { RowOrMiss } from '../store/in-flight.js';
import type { Loader } from './db-read.js';

/**
 * The live consistency check (`verify: { sampleRate }`): a sample of row hits is read again from the database,
 * after the lookup has answered, and a hit that differs from the database is reported as `stale`, but only
 * while its stamps still stand: a write racing the check flushes the entry, and that is no alarm. Before it
 * looks at the stamps the check lets this process's flushes under way land, and waits `delay` for those of
 * other processes; then it reads the database once more. It never fills or flushes anything.
 */

/** A hit to check, and where it was read. */
export interface VerifyTarget {
  readonly modelClass: typeof Model;
  readonly cache: ModelCache;
  readonly column: string;
  readonly knex: Knex;
  readonly operation: string;
  /** How the DB is read for the value (a row, or an index's list of ids). */
  readonly load: Loader;
}

/** Checks the hit of `value` (its record as served) in the sample `verify.sampleRate` sets; never waits for it. */
export function maybeVerify(target: VerifyTarget, value: KeyValue, keys: EntryKeys, record: CacheRecord): void {
  const verify = target.cache.verify;
  if (!verify || Math.random() >= verify.sampleRate) return;
  setImmediate(() => {
    verifyHit(target, value, keys, record, verify.delay).catch((error: unknown) => target.cache.store.reportFailure(error, 'verify'));
  });
}

async function verifyHit(target: VerifyTarget, value: KeyValue, keys: EntryKeys, record: CacheRecord, delay: number): Promise<void> {
  const { cache } = target;
  const { store } = cache;
  if (sameRow(await databaseRow(target, value), record.row)) return;
  await Promise.allSettled([...store.state.deletions]);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
  const stamps = await store.getMany([cache.generationKey, keys.guard]);
  if (stamps === STORE_DOWN || store.degraded) return;
  if (asToken(stamps[0]) !== record.generation || asToken(stamps[1]) !== record.guard) return; // flushed meanwhile
  const now = await databaseRow(target, value);
  if (sameRow(now, record.row) || !observed('stale')) return;
  store.publish('stale', {
    model: cache.modelName,
    table: cache.table,
    operation: target.operation,
    kind: 'row',
    column: target.column,
    key: value,
    cached: record.row && decodeRow(record.row),
    database: now && decodeRow(now),
  });
}

/** The row as a fill would encode it now. */
async function databaseRow(target: VerifyTarget, value: KeyValue): Promise<RowOrMiss> {
  const [found] = await target.load(target.modelClass, target.column, [value], target.knex);
  return found ? found.row : null;
}

function sameRow(a: RowOrMiss, b: RowOrMiss): boolean {
  return a === null || b === null ? a === b : a.json === b.json;
}
