import type { Knex } from 'knex';
import type { Model } from 'objection';
import { decodeRecord, encodeRecord, encodeRow, type CacheRecord } from '../core/codec.js';
import { entryKeys, type EntryKeys } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { asToken, newToken } from '../core/tokens.js';
import type { ModelCache } from '../config/settings.js';
import { STORE_DOWN, type StoreEntry } from '../store/guarded-store.js';
import type { RowOrMiss } from '../store/in-flight.js';
import { readRows, type Found } from './db-read.js';

export type { RowOrMiss };

/** A caller's wait for one key of a fill. */
interface Waiter {
  readonly value: KeyValue;
  readonly keys: EntryKeys;
  readonly resolve: (row: RowOrMiss) => void;
  readonly reject: (error: unknown) => void;
}

/** A key the store had no valid entry for, and the guard token it will be stamped with. */
interface Miss {
  readonly waiter: Waiter;
  guard: string | undefined;
}

/**
 * Reads `values` of `column` through the cache: one store read for all of them; for those that missed, one
 * store write of any missing tokens, one DB query and one store write of the fills. Values already being
 * filled by another caller join that fill (single flight). The DB is read through `knex`, whose database
 * `cache` is scoped to.
 */
export function readThrough(modelClass: typeof Model, cache: ModelCache, column: string, values: readonly KeyValue[], knex: Knex): Promise<RowOrMiss[]> {
  const fills = cache.store.state.inFlight.fills;
  const rows: (RowOrMiss | Promise<RowOrMiss>)[] = [];
  const batch = new Map<string, Waiter>();
  // A store in this process's memory answers at once: a hit needs no fill and no promise of its own.
  const local = cache.store.degraded ? undefined : cache.store.local;
  for (const value of values) {
    const keys = entryKeys(cache.space, column, value);
    let fill = fills.get(keys.value);
    if (!fill && local) {
      const [generation, guard, raw] = local.peek([cache.generationKey, keys.guard, keys.value]);
      const record = valid(decodeRecord(raw), asToken(generation), asToken(guard));
      if (record) {
        rows.push(record.row);
        continue;
      }
    }
    fill ??= startFill(fills, batch, value, keys);
    rows.push(fill);
  }
  if (batch.size > 0) {
    const waiters = [...batch.values()];
    fill(modelClass, cache, column, waiters, knex).catch((error: unknown) => {
      for (const waiter of waiters) waiter.reject(error);
    });
  }
  return Promise.all(rows);
}

/** A fill of one key, registered so that later callers join it, and forgotten once it settles. */
function startFill(fills: Map<string, Promise<RowOrMiss>>, batch: Map<string, Waiter>, value: KeyValue, keys: EntryKeys): Promise<RowOrMiss> {
  let waiter!: Waiter;
  const fill = new Promise<RowOrMiss>((resolve, reject) => {
    waiter = { value, keys, resolve, reject };
  });
  fills.set(keys.value, fill);
  batch.set(keys.value, waiter);
  const land = () => {
    if (fills.get(keys.value) === fill) fills.delete(keys.value);
  };
  fill.then(land, land);
  return fill;
}

/** The record, if both its stamps are the current tokens. */
function valid(record: CacheRecord | undefined, generation: string | undefined, guard: string | undefined): CacheRecord | undefined {
  return record && generation !== undefined && record.generation === generation && record.guard === guard ? record : undefined;
}

/**
 * The race guard. Every fill is stamped with the model's generation token and the key's guard token as they
 * stood before the DB read; a flush deletes the guard (and flushAll the generation). A record counts only while
 * both stamps still match, so a fill that read the old row before a flush, and stored it after, is never served:
 * its guard is gone, and tokens are random, so it never comes back. Missing tokens are created before the DB read.
 */
async function fill(modelClass: typeof Model, cache: ModelCache, column: string, batch: readonly Waiter[], knex: Knex): Promise<void> {
  const { store } = cache;
  if (store.degraded && !(await store.recover())) {
    // A flush of this process has not reached the store yet: its entries cannot be trusted, ask the DB.
    const found = await readRows(
      modelClass,
      column,
      batch.map((waiter) => waiter.value),
      knex,
    );
    batch.forEach((waiter, i) => waiter.resolve(encodeFound(found[i])));
    return;
  }
  const raw = await store.getMany([cache.generationKey, ...batch.flatMap((waiter) => [waiter.keys.guard, waiter.keys.value])]);
  const stored = raw === STORE_DOWN ? undefined : asToken(raw[0]);
  const misses = serveHits(batch, raw, stored);
  if (misses.length === 0) return;
  const generation = stored ?? newToken();
  // With the store down there is nothing to stamp or store: read the DB and step aside.
  const storable = raw !== STORE_DOWN && (await store.setMany(missingTokens(cache, stored, generation, misses)));
  const found = await readRows(
    modelClass,
    column,
    misses.map((miss) => miss.waiter.value),
    knex,
  );
  const rows = found.map(encodeFound);
  if (storable) await store.setMany(fillsOf(cache, generation, misses, found, rows));
  misses.forEach((miss, i) => miss.waiter.resolve(rows[i]!));
}

/** Resolves the waiters whose records are valid; the others are the misses, with the guard the store holds. */
function serveHits(batch: readonly Waiter[], raw: readonly unknown[] | typeof STORE_DOWN, generation: string | undefined): Miss[] {
  const misses: Miss[] = [];
  batch.forEach((waiter, i) => {
    const guard = raw === STORE_DOWN ? undefined : asToken(raw[1 + 2 * i]);
    const record = raw === STORE_DOWN ? undefined : valid(decodeRecord(raw[2 + 2 * i]), generation, guard);
    if (record) waiter.resolve(record.row);
    else misses.push({ waiter, guard });
  });
  return misses;
}

/** The tokens to create before the DB read: the generation if the store had none, and each miss's guard. */
function missingTokens(cache: ModelCache, stored: string | undefined, generation: string, misses: Miss[]): StoreEntry[] {
  const tokens: StoreEntry[] = [];
  if (stored === undefined) tokens.push({ key: cache.generationKey, value: generation, ttl: cache.tokenTtl });
  for (const miss of misses) {
    if (miss.guard !== undefined) continue;
    miss.guard = newToken();
    tokens.push({ key: miss.waiter.keys.guard, value: miss.guard, ttl: cache.tokenTtl });
  }
  return tokens;
}

/**
 * The entries to store: each row found, and each miss that no row of another spelling could answer, stamped with
 * the tokens read or created before the DB read.
 */
function fillsOf(
  cache: ModelCache,
  generation: string,
  misses: readonly Miss[],
  found: readonly (Found | undefined)[],
  rows: readonly RowOrMiss[],
): StoreEntry[] {
  const fills: StoreEntry[] = [];
  misses.forEach((miss, i) => {
    const hit = found[i];
    if (!(hit ? hit.exact : miss.waiter.keys.missCacheable)) return;
    fills.push({ key: miss.waiter.keys.value, value: encodeRecord(generation, miss.guard!, rows[i]!), ttl: hit ? cache.ttl : cache.missTtl });
  });
  return fills;
}

/** The row as the cache keeps it: its DB form (what `fromDatabaseJson` takes back), encoded. */
function encodeFound(found: Found | undefined): RowOrMiss {
  return found ? encodeRow(found.row.$toDatabaseJson()) : null;
}
