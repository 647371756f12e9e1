import type { Knex } from 'knex';
import { Model, type TransactionOrKnex } from 'objection';
import { decodeRow } from '../core/codec.js';
import { canonicalKey, givenKey, keyParts, listName, rowKeyOf } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { assertIndexColumn, boundKnex, modelSettings, type CachedClass, type ModelCache } from '../config/settings.js';
import { isTransaction } from '../config/scope.js';
import { matchesOtherSpellings, matchesOwnSpellingOnly, readRows } from '../reads/db-read.js';
import { decodeList, loadLists, spelledCanonically } from '../reads/list-read.js';
import { readThrough } from '../reads/read-through.js';
import { columnNamed } from './lookup.js';
import { inScope } from './model-cache.js';

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
    return lists.map((listed, i) =>
      holding(
        listed.map((id) => byId.get(id)),
        index,
        keys[i]!,
        folds,
      ),
    );
  }
  const cache = inScope(settings, source);
  const rows = await listedRows(modelClass, cache, index, keys, source, operation);
  // an instance per place in a list (the same value asked twice gets two), as every lookup hands out
  const found = rows.map((listed) => listed.map((row) => modelClass.fromDatabaseJson(row) as M));
  if (modelClass.prototype.$afterFind !== Model.prototype.$afterFind) {
    const context = { transaction: source } as unknown as Parameters<Model['$afterFind']>[0];
    await Promise.all(found.flat().map((model) => model.$afterFind(context)));
  }
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
  // the index's columns as the DB names them: rows here are in their DB form
  const parts = keyParts(index);
  const dbParts = parts.map(cache.columnOf);
  // where the DB matches other spellings (MySQL), its lists are kept as it gave them
  const folds = matchesOtherSpellings(knex);
  return lists.map((listed, i) => {
    const exact = spelledCanonically(index, values[i]!) && (!folds || matchesOwnSpellingOnly(index, values[i]!));
    const wanted = exact ? canonicalKey(values[i]!) : undefined;
    return listed.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      const decoded = decodeRow(row);
      if (wanted === undefined) return [decoded];
      const held = rowKeyOf(Object.fromEntries(parts.map((part, j) => [part, decoded[dbParts[j]!]])), index);
      return held !== undefined && canonicalKey(held) === wanted ? [decoded] : [];
    });
  });
}

/** The rows that still hold `value` of `index` (every row, for a value not spelled as the DB prints it). */
function holding<M extends Model>(rows: readonly (M | undefined)[], index: string, value: KeyValue, folds: boolean): M[] {
  const check = spelledCanonically(index, value) && (!folds || matchesOwnSpellingOnly(index, value));
  const wanted = canonicalKey(value);
  return rows.filter((row): row is M => {
    if (!row) return false;
    if (!check) return true;
    const held = rowKeyOf(row, index);
    return held !== undefined && canonicalKey(held) === wanted;
  });
}
