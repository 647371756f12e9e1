import type { Knex } from 'knex';
import type { Model, TransactionOrKnex } from 'objection';
import { decodeRow } from '../core/codec.js';
import { canonicalKey, givenKey, keyParts, listName, rowKeyOf } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { assertIndexColumn, boundKnex, modelSettings, type CachedClass, type ModelCache } from '../config/settings.js';
import { isTransaction } from '../config/scope.js';
import { matchesOtherSpellings, matchesOwnSpellingOnly, readRows } from '../reads/db-read.js';
import { decodeList, loadLists } from '../reads/list-read.js';
import { readThrough } from '../reads/read-through.js';
import { afterFind, columnNamed } from './lookup.js';
import { inScope } from './model-cache.js';
import { rowModel } from './row-model.js';

/**
 * `getAllBy` / `getAllByMany`: the rows holding each of `values` of an index (`cacheIndexes`), in id order. The
 * lists of ids are read through the cache (one store read, at most one DB query for those that missed), then the
 * rows through the row cache by id (the same again). Through a transaction the DB answers, as for lookups.
 *
 * A row is listed only while it still holds the value: a list filled before a write that moved a row away is
 * flushed by that write, and a row read after such a write, through a list read before it, is left out.
 */
export async function lookupLists<M extends Model>(
  modelClass: CachedClass,
  by: unknown,
  values: readonly unknown[],
  knex: TransactionOrKnex | undefined,
  operation: string,
): Promise<M[][]> {
  const settings = modelSettings(modelClass);
  const index = columnNamed(settings, by, settings.indexColumns);
  assertIndexColumn(settings, index);
  const keys = values.map((value) => givenKey(settings.modelName, index, value));
  const source = boundKnex(modelClass, knex as Knex | undefined);
  const list = listName(index);
  if (isTransaction(source)) {
    // the transaction may see rows no one else can yet: the DB answers, the cache is neither read nor filled
    const lists = (await loadLists(modelClass, list, keys, source)).map((loaded) => decodeList(loaded?.row ?? null));
    const ids = [...new Set(lists.flat())];
    const found = await readRows(modelClass, settings.idProperty, ids, source);
    const byId = new Map(ids.map((id, i) => [id, found[i]?.row as M | undefined]));
    const folds = matchesOtherSpellings(source);
    const held = (model: M, part: string) => (model as unknown as Record<string, unknown>)[part];
    return lists.map((listed, i) =>
      holding(
        listed.flatMap((id) => byId.get(id) ?? []),
        index,
        keys[i]!,
        folds,
        held,
      ),
    );
  }
  const cache = inScope(settings, source);
  const rows = await listedRows(modelClass, cache, index, keys, source, operation);
  // an instance per place in a list (the same value asked twice gets two), as every lookup hands out
  const found = rows.map((listed) => listed.map((row) => rowModel<M>(modelClass, row)));
  await afterFind(modelClass, source, found.flat());
  return found;
}

/**
 * The rows (in their DB form, fresh objects) holding each of `values` of `index`: the lists of ids through the
 * cache (one store read, at most one DB query for those that missed), then the rows through the row cache by id
 * (the same again). Used by `getAllBy` and by has-many relation finds on an index (model/query-builder.ts).
 */
export async function listedRows(
  modelClass: typeof Model,
  cache: ModelCache,
  index: string,
  values: readonly KeyValue[],
  knex: Knex,
  operation: string,
): Promise<Record<string, unknown>[][]> {
  const lists = (await readThrough(modelClass, cache, listName(index), values, knex, operation, loadLists)).map(decodeList);
  const ids = [...new Set(lists.flat())];
  const rows = ids.length === 0 ? [] : await readThrough(modelClass, cache, cache.idProperty, ids, knex, operation);
  const byId = new Map(ids.map((id, i) => [id, rows[i]]));
  // rows here are in their DB form: the index's parts under the DB's names
  const folds = matchesOtherSpellings(knex);
  const held = (row: Record<string, unknown>, part: string) => row[cache.columnOf(part)];
  return lists.map((listed, i) =>
    holding(
      listed.flatMap((id) => {
        const row = byId.get(id);
        return row ? [decodeRow(row)] : [];
      }),
      index,
      values[i]!,
      folds,
      held,
    ),
  );
}

/**
 * The rows that still hold `value` of `index` (`part` reads one of its parts off a row); every row, for a value
 * that may match other spellings (db-read.ts `matchesOwnSpellingOnly`), as the DB listed them.
 */
function holding<R>(rows: readonly R[], index: string, value: KeyValue, folds: boolean, part: (row: R, part: string) => unknown): R[] {
  if (!matchesOwnSpellingOnly(index, value, folds)) return [...rows];
  const wanted = canonicalKey(value);
  const parts = keyParts(index);
  return rows.filter((row) => {
    const held = rowKeyOf(Object.fromEntries(parts.map((name) => [name, part(row, name)])), index);
    return held !== undefined && canonicalKey(held) === wanted;
  });
}
