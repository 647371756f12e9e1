import { entryKeys, listName, rowKeyOf, rowKeyValue } from '../core/keys.js';
import type { ModelCache } from '../config/settings.js';
import type { GuardedStore } from '../store/guarded-store.js';

/**
 * The value and guard keys of every cache key of `row`: the id column and each of `cacheKeys` it holds, and the
 * key columns of the other cached classes on its table (store/table-catalog.ts), whose guards keep their
 * entries exact. With `lists`, also the keys of the lists (`cacheIndexes`) the row is in: an insert, a delete,
 * or an update that moves the row from one list to another must flush them; any other update need not.
 */
export function rowKeys(cache: ModelCache, row: object, lists = true): string[] {
  const keys = cache.catalog.keyColumns.flatMap((column) => columnKeys(cache, column, rowKeyOf(row, column)));
  return lists ? keys.concat(listKeys(cache, row)) : keys;
}

/** The keys of the lists (`cacheIndexes` of every cached class on the table) that `row` is in. */
export function listKeys(cache: ModelCache, row: object): string[] {
  return cache.catalog.indexColumns.flatMap((index) => columnKeys(cache, listName(index), rowKeyOf(row, index)));
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
 * moment carries the deleted guard and is never served. Reads under way in this process are forgotten first, so
 * no caller that starts after the flush joins one that read before it.
 */
export async function flushKeys(store: GuardedStore, keys: Iterable<string>): Promise<boolean> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return true;
  store.state.inFlight.forget(unique);
  return store.deleteMany(unique);
}

/**
 * Invalidates every entry of the model at once, by deleting its generation token, and every cached query or
 * value that read its table, by deleting the table's token.
 */
export async function flushModel(cache: ModelCache): Promise<boolean> {
  const tokens = [cache.generationKey, cache.tableTokenKey];
  cache.store.state.inFlight.forget(tokens);
  return cache.store.deleteTokens(tokens);
}
