import type { Model, TransactionOrKnex } from 'objection';
import { encodeRow, type EncodedRow } from '../core/codec.js';
import { canonicalKey, indexOfList, keyParts, rowKeyOf } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { modelSettings, type CachedClass } from '../config/settings.js';
import { direct, matchesOtherSpellings, matchesOwnSpellingOnly, whereKeyIn, WHERE_IN_CHUNK, type Loaded, type Loader } from './db-read.js';

/**
 * Cached lists (`cacheIndexes`, `getAllBy`): per value of an index, the ids of the rows holding it, in id order.
 * A list is filled, stamped and flushed like a row's entry (read-through.ts, under `listName(index)`); the rows
 * themselves come through the row cache by id, so a write to one row costs its own entries, and a list is
 * flushed only by a write that changes who is in it (write-hooks.ts).
 */

/** A list as the cache keeps it: the ids' canonical spellings, in id order. */
interface IdList {
  readonly ids: readonly string[];
}

export function encodeList(ids: readonly string[]): EncodedRow {
  return encodeRow({ ids } satisfies IdList);
}

export function decodeList(row: EncodedRow | null): readonly string[] {
  return row === null ? [] : (JSON.parse(row.json) as IdList).ids;
}

/**
 * Reads the lists of `values` of the index `list` names: one query for all of them (chunked only past
 * `WHERE_IN_CHUNK` bound values), selecting ids and index columns only, ordered by id. A value spelled as the DB
 * would not print it (`'01'`, see keys.ts `isCacheableMiss`) may match rows of another spelling: it is read on
 * its own and its list is not stored.
 */
export const loadLists: Loader = async (modelClass, list, values, trx) => {
  const settings = modelSettings(modelClass as CachedClass);
  const index = indexOfList(list);
  const indexColumns = keyParts(index).map(settings.columnOf);
  return listsOf(index, values, matchesOtherSpellings(trx), (some) => readIds(modelClass, index, indexColumns, some, trx));
};

/**
 * The lists of `values` of `index`, as a Loader answers them, from `read` (each value's list by its canonical
 * spelling): the values that match only their own spelling in one read, each other one in a read of its own,
 * its list not to be stored (`exact: false`).
 */
export async function listsOf(
  index: string,
  values: readonly KeyValue[],
  folds: boolean,
  read: (values: readonly KeyValue[]) => Promise<Map<string, string[]>>,
): Promise<Loaded[]> {
  const canonical = values.map((value) => matchesOwnSpellingOnly(index, value, folds));
  const lists = await read(values.filter((_, i) => canonical[i]));
  const loaded: Loaded[] = [];
  for (const [i, value] of values.entries()) {
    if (canonical[i]) {
      loaded.push({ row: encodeList(lists.get(canonicalKey(value)) ?? []), exact: true });
    } else {
      const own = await read([value]);
      loaded.push({ row: encodeList([...own.values()].flat()), exact: false });
    }
  }
  return loaded;
}

/** Adds `member` to the list of `value` in `lists`, both by their canonical spelling: how a read for `listsOf` builds them. */
export function addToList(lists: Map<string, string[]>, value: KeyValue, member: KeyValue): void {
  const key = canonicalKey(value);
  const list = lists.get(key);
  if (list) list.push(canonicalKey(member));
  else lists.set(key, [canonicalKey(member)]);
}

/** The ids of the rows holding each of `values`, by the canonical spelling of the row's index value. */
async function readIds(
  modelClass: typeof Model,
  index: string,
  indexColumns: readonly string[],
  values: readonly KeyValue[],
  trx: TransactionOrKnex | undefined,
): Promise<Map<string, string[]>> {
  const settings = modelSettings(modelClass as CachedClass);
  const columns = [...new Set([...settings.idColumns, ...indexColumns])];
  const size = Math.floor(WHERE_IN_CHUNK / indexColumns.length);
  const lists = new Map<string, string[]>();
  for (let i = 0; i < values.length; i += size) {
    const rows = await whereKeyIn(direct(modelClass.query(trx)).select(columns), indexColumns, values.slice(i, i + size)).orderBy(
      settings.idColumns.map((column) => ({ column })),
    );
    for (const row of rows) {
      const value = rowKeyOf(row, index);
      const id = rowKeyOf(row, settings.idProperty);
      if (value !== undefined && id !== undefined) addToList(lists, value, id);
    }
  }
  return lists;
}
