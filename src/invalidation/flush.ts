import { entryKeys, isGenerationKey, rowKeyValue, tagOf } from '../core/keys.js';
import type { GuardedStore } from '../store/guarded-store.js';
import type { ModelCache } from '../config/settings.js';
import { flushColumns } from '../store/table-columns.js';
import { flightsOf } from '../reads/read-through.js';
import { detachVersionedFlights } from '../reads/stamped-read.js';

/**
 * The value and guard keys of every cache key of `row`: the id column and each of `cacheKeys` it holds, and the
 * key columns of the other cached classes on its table (table-columns.ts), whose guards keep their entries exact.
 */
export function rowKeys(cache: ModelCache, row: object): string[] {
  return flushColumns(cache).flatMap((column) => columnKeys(cache, column, (row as Record<string, unknown>)[column]));
}

/** The value and guard keys of one (column, value) pair, or none where the value cannot be a key. */
export function columnKeys(cache: ModelCache, column: string, raw: unknown): string[] {
  const value = rowKeyValue(raw);
  if (value === undefined) return [];
  const entry = entryKeys(cache.space, column, value);
  return [entry.value, entry.guard];
}

/**
 * Deletes `keys` in one store call. Deleting a guard is what invalidates: a fill that read the DB before this
 * moment carries the deleted guard and is never served. Fills under way in this process are let go first, so
 * no caller that starts after the flush joins one that read before it.
 */
export async function flushKeys(store: GuardedStore, keys: Iterable<string>): Promise<boolean> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return true;
  const flights = flightsOf(store.keyv);
  for (const key of unique) {
    flights.delete(key);
    // a deleted generation (flushAll deferred to a commit) lets go of every fill of the model in that database
    if (isGenerationKey(key)) dropFlightsUnder(flights, key);
  }
  detachVersionedFlights(store.keyv, new Set(unique));
  return store.deleteMany(unique);
}

/**
 * Invalidates every entry of the model at once, by deleting its generation token, and every cached query or
 * value that read its table, by deleting the table's version.
 */
export async function flushModel(cache: ModelCache): Promise<boolean> {
  dropFlightsUnder(flightsOf(cache.store.keyv), cache.generationKey);
  detachVersionedFlights(cache.store.keyv, new Set([cache.versionKey, cache.generationKey]));
  return cache.store.delete(cache.generationKey, cache.versionKey);
}

/** Lets go of every fill under way under the hash tag of `genKey`: the model's entries in one database. */
function dropFlightsUnder(flights: Map<string, unknown>, genKey: string): void {
  const prefix = `${tagOf(genKey)}:`;
  for (const key of flights.keys()) if (key.startsWith(prefix)) flights.delete(key);
}
