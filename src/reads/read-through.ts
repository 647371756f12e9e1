import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type Keyv from 'keyv';
import type { Model } from 'objection';
import { decodeRecord, encodeRecord, encodeRow, type CacheRecord } from '../core/codec.js';
import { readRows, type Found } from './db-read.js';
import type { StoreEntry } from '../store/guarded-store.js';
import { entryKeys, type EntryKeys, type KeyValue } from '../core/keys.js';
import type { ModelCache } from '../config/settings.js';

/** What a lookup resolves to: the encoded row, or null where no row has the key. */
export type Lookup = CacheRecord['row'];

/**
 * Lookups under way, per store, by value key. A caller asking for a key that is being filled joins the fill
 * instead of reading again (single flight); a flush drops the key from here so that later callers start afresh.
 */
const flightsByStore = new WeakMap<Keyv, Map<string, Promise<Lookup>>>();

export function flightsOf(keyv: Keyv): Map<string, Promise<Lookup>> {
  let flights = flightsByStore.get(keyv);
  if (!flights) flightsByStore.set(keyv, (flights = new Map()));
  return flights;
}

interface Pending {
  readonly value: KeyValue;
  readonly keys: EntryKeys;
  readonly resolve: (lookup: Lookup) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Reads `values` of `column` through the cache: one store read for all of them; for those that missed, one
 * store write of any missing tokens, one DB query and one store write of the fills. Values already being
 * filled by another caller join that fill. The DB is read through `knex`, whose database `cache` is scoped to.
 */
export function readThrough(modelClass: typeof Model, cache: ModelCache, column: string, values: readonly KeyValue[], knex: Knex): Promise<Lookup[]> {
  const flights = flightsOf(cache.store.keyv);
  const lookups: (Lookup | Promise<Lookup>)[] = [];
  const batch = new Map<string, Pending>();
  // A store in this process's memory answers at once: a hit needs no flight and no promise of its own.
  const local = cache.store.degraded ? undefined : cache.store.local;
  const genKey = cache.generationKey;
  for (const value of values) {
    const keys = entryKeys(cache.space, column, value);
    let flight = flights.get(keys.value);
    if (!flight && local) {
      const [generation, guard, raw] = local.peek([genKey, keys.guard, keys.value]);
      const record = valid(decodeRecord(raw), asToken(generation), asToken(guard));
      if (record) {
        lookups.push(record.row);
        continue;
      }
    }
    if (!flight) {
      let pending!: Pending;
      flight = new Promise<Lookup>((resolve, reject) => {
        pending = { value, keys, resolve, reject };
      });
      flights.set(keys.value, flight);
      batch.set(keys.value, pending);
      const settled = flight;
      const land = () => {
        if (flights.get(keys.value) === settled) flights.delete(keys.value);
      };
      settled.then(land, land);
    }
    lookups.push(flight);
  }
  if (batch.size > 0) {
    const pending = [...batch.values()];
    fill(modelClass, cache, column, pending, knex).catch((error: unknown) => {
      for (const p of pending) p.reject(error);
    });
  }
  return Promise.all(lookups);
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
async function fill(modelClass: typeof Model, cache: ModelCache, column: string, batch: readonly Pending[], knex: Knex): Promise<void> {
  const { store } = cache;
  if (store.degraded && !(await store.recover())) {
    // A flush of this process has not reached the store yet: its entries cannot be trusted, ask the DB.
    const found = await readRows(modelClass, column, batch.map((p) => p.value), knex);
    batch.forEach((pending, i) => pending.resolve(encodeFound(found[i])));
    return;
  }
  const genKey = cache.generationKey;
  const raw = await store.getMany([genKey, ...batch.flatMap((p) => [p.keys.guard, p.keys.value])]);
  let generation = asToken(raw?.[0]);
  const misses: { pending: Pending; guard: string | undefined }[] = [];
  batch.forEach((pending, i) => {
    const guard = asToken(raw?.[1 + 2 * i]);
    const record = valid(decodeRecord(raw?.[2 + 2 * i]), generation, guard);
    if (record) {
      pending.resolve(record.row);
    } else {
      misses.push({ pending, guard });
    }
  });
  if (misses.length === 0) return;

  // With the store down there is nothing to stamp or store: read the DB and step aside.
  let storable = raw !== undefined;
  if (storable) {
    const tokens: StoreEntry[] = [];
    if (generation === undefined) {
      generation = newToken();
      tokens.push({ key: genKey, value: generation, ttl: cache.tokenTtl });
    }
    for (const miss of misses) {
      if (miss.guard === undefined) {
        miss.guard = newToken();
        tokens.push({ key: miss.pending.keys.guard, value: miss.guard, ttl: cache.tokenTtl });
      }
    }
    storable = await store.setMany(tokens);
  }

  const found = await readRows(modelClass, column, misses.map((m) => m.pending.value), knex);
  const fills: StoreEntry[] = [];
  const results = misses.map((miss, i): Lookup => {
    const hit = found[i];
    const row = encodeFound(hit);
    const cacheable = hit ? hit.exact : miss.pending.keys.missCacheable;
    if (storable && cacheable) {
      fills.push({
        key: miss.pending.keys.value,
        value: encodeRecord(generation!, miss.guard!, row),
        ttl: hit ? cache.ttl : cache.missTtl,
      });
    }
    return row;
  });
  if (fills.length > 0) await store.setMany(fills);
  misses.forEach((miss, i) => miss.pending.resolve(results[i]!));
}

/** The row as the cache keeps it: its DB form (what `fromDatabaseJson` takes back), encoded. */
function encodeFound(found: Found | undefined): Lookup {
  return found ? encodeRow(found.row.$toDatabaseJson()) : null;
}

/** A token as read from the store, or undefined where there is none. */
export function asToken(raw: unknown): string | undefined {
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

/** A fresh random token: a deleted token never comes back. */
export function newToken(): string {
  return randomBytes(12).toString('base64url');
}
