import type { Knex } from 'knex';
import type { Model, QueryBuilder, StaticHookArguments } from 'objection';
import { dialectOf, hookBuilderOf, operationArgs, queryPropsOf } from '../core/internals.js';
import { keyParts, listName, rowKeyOf, rowKeyValue } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { isTransaction } from '../config/scope.js';
import { boundKnex, type CachedClass, type ModelCache } from '../config/settings.js';
import { affectedIds } from '../invalidation/affected-rows.js';
import { columnKeys, rowKeys } from '../invalidation/flush.js';
import { flushAfterCommit } from '../invalidation/transaction-flush.js';
import { direct, whereKeyIn, WHERE_IN_CHUNK } from '../reads/db-read.js';
import { modelCache } from './model-cache.js';

/**
 * Invalidation rides on Objection's static query hooks, which run for every query-builder write: instance
 * `$query()` writes, `patch`/`update`/`delete` with any `where`, `*ById`, `*AndFetch*`, graph inserts and
 * upserts, and the patches that `relate`/`unrelate` issue. Before an update or delete one SELECT reads the key
 * columns of the rows it will touch (old values); after it, those keys, the new values of any key column the
 * write set and the table's token (which invalidates cached queries) are flushed in one store call, or after
 * the outermost commit inside a transaction. Keys are those of the database the write runs on (its cache scope).
 */

type HookArgs = StaticHookArguments<Model>;

interface BeforeState {
  /** Keys the rows hold before the write. */
  readonly keys: string[];
  readonly ids: unknown[];
  /** Keys of the literal values the write sets on key columns. */
  readonly newKeys: string[];
  /** The write sets a key column to an expression (raw(), ref(), a subquery): only the DB knows the new value. */
  readonly newValuesUnknown: boolean;
}

/** Old keys read before a write, by the query builder that runs it (hook arguments differ before and after). */
const before = new WeakMap<object, BeforeState>();

/** The builder behind hook arguments: the one object shared by a write's before and after hooks. */
function builderOf(args: HookArgs): QueryBuilder<Model> {
  return hookBuilderOf<QueryBuilder<Model>>(args);
}

function transactionOf(args: HookArgs): Knex | undefined {
  return args.transaction as Knex | undefined;
}

/** The knex the write runs on (Objection's `transaction` argument is the builder's knex, a transaction or not). */
function knexOf(modelClass: CachedClass, args: HookArgs): Knex {
  return boundKnex(modelClass, transactionOf(args));
}

/**
 * beforeUpdate / beforeDelete: read the keys the rows hold now, and note what the patch sets on key columns.
 * The patch is read here because Objection turns expressions in it into SQL before the after-hook runs.
 */
export async function beforeChange(modelClass: CachedClass, args: HookArgs, change: 'update' | 'delete'): Promise<void> {
  const cache = modelCache(modelClass, knexOf(modelClass, args));
  const patch = (args.inputItems[0] ?? {}) as unknown as Record<string, unknown>;
  // raw(), ref() and subquery values, which Objection keeps apart from the model's own
  const expressions = queryPropsOf(patch);
  const given = (part: string): unknown => (patch[part] !== undefined ? patch[part] : expressions[part]);
  const newKeys: string[] = [];
  // keys the patch sets some parts of (a composite key): each row's new tuple is its other parts with the patch's
  const partlySet: (readonly [column: string, name: string])[] = [];
  let newValuesUnknown = false;
  // keys, and the lists of indexes under their names: a patch of an index column moves the row between lists
  const targets = [
    ...cache.catalog.keyColumns.map((column) => [column, column] as const),
    ...cache.catalog.indexColumns.map((index) => [index, listName(index)] as const),
  ];
  for (const [column, name] of targets) {
    const parts = keyParts(column);
    const values = parts.map(given);
    const set = values.filter((value) => value !== undefined);
    if (set.length === 0) continue;
    if (set.some((value) => value !== null && rowKeyValue(value) === undefined)) {
      // an expression (raw(), ref(), a subquery): the new value is the DB's, read again after the write by id; a
      // new id is out of that read's reach, so the model's generation goes instead
      newValuesUnknown = true;
      if (keyParts(cache.idProperty).some((part) => given(part) !== undefined)) newKeys.push(cache.generationKey);
    } else if (set.length < parts.length) partlySet.push([column, name]);
    else {
      const value = parts.length === 1 ? values[0] : rowKeyOf(Object.fromEntries(parts.map((part, i) => [part, values[i]])), column);
      newKeys.push(...columnKeys(cache, name, value));
    }
  }
  // A row leaves its lists when deleted, or when the patch sets an index column or its id (a list holds ids)
  const listsChange =
    change === 'delete' || [cache.idProperty, ...cache.catalog.indexColumns].some((name) => keyParts(name).some((part) => given(part) !== undefined));
  const query = direct(args.asFindQuery());
  const table = query.tableRefFor(modelClass);
  // In a transaction on PostgreSQL (or MySQL), lock the rows: no other transaction can change their keys between
  // this SELECT and the commit, so the keys read here are the ones the flush must reach. SQLite runs one writer.
  const knex = transactionOf(args);
  if (isTransaction(knex) && /^(postgres|mysql)/.test(dialectOf(knex))) {
    // PostgreSQL names the locked relation as FROM does, unqualified: `app.posts` is locked as `posts`
    (query as unknown as { forUpdate(...tables: string[]): unknown }).forUpdate(table.slice(table.lastIndexOf('.') + 1));
  }
  // findById-style queries answer [undefined] when the row is absent
  const found = (await query.select(keyColumnsOf(cache).map((column) => `${table}.${column}`))) as unknown as (Model | undefined)[];
  const rows = found.filter((row): row is Model => row !== undefined && row !== null);
  for (const [column, name] of partlySet) {
    for (const row of rows) {
      const next = Object.fromEntries(
        keyParts(column).map((part) => [part, given(part) !== undefined ? given(part) : (row as unknown as Record<string, unknown>)[part]]),
      );
      newKeys.push(...columnKeys(cache, name, rowKeyOf(next, column)));
    }
  }
  before.set(builderOf(args), {
    keys: rows.flatMap((row) => rowKeys(cache, row, listsChange)),
    ids: rows.map((row) => rowKeyOf(row, cache.idProperty)),
    newKeys,
    newValuesUnknown,
  });
}

/** afterUpdate: flush the old keys and the new values of the key columns the write set. */
export async function afterUpdate(modelClass: CachedClass, args: HookArgs): Promise<void> {
  const cache = modelCache(modelClass, knexOf(modelClass, args));
  const state = before.get(builderOf(args));
  if (!state) return;
  const phantoms = hasPhantoms(state, args);
  if (state.ids.length === 0 && !phantoms) return;
  await afterWrite(cache, args, 'afterUpdate', async () => {
    const keys = [...state.keys, ...state.newKeys, cache.tableTokenKey, ...cache.cascadeKeys, ...(phantoms ? [cache.generationKey] : [])];
    // (concatenated, not pushed as arguments: a bulk write's keys can outnumber the arguments a call may take)
    return state.newValuesUnknown ? keys.concat(await currentKeys(modelClass, cache, state.ids, transactionOf(args))) : keys;
  });
}

/**
 * Flushes the keys `collect` gathers. The write has run (outside a transaction it has committed), so nothing the
 * cache does may fail it now: if gathering the keys fails (a re-read the DB refuses), the error is reported and
 * the whole model is flushed in the write's database instead, which no entry of the rows can outlive.
 */
async function afterWrite(cache: ModelCache, args: HookArgs, hook: string, collect: () => Promise<readonly string[]>): Promise<void> {
  let keys: readonly string[];
  try {
    keys = await collect();
  } catch (error) {
    cache.store.reportFailure(error, hook);
    keys = [cache.generationKey, cache.tableTokenKey];
  }
  await flushAfterCommit(transactionOf(args), cache.store, keys);
}

/** afterDelete: flush the keys the deleted rows held. */
export async function afterDelete(modelClass: CachedClass, args: HookArgs): Promise<void> {
  const state = before.get(builderOf(args));
  if (!state) return;
  const phantoms = hasPhantoms(state, args);
  if (state.keys.length === 0 && !phantoms) return;
  const cache = modelCache(modelClass, knexOf(modelClass, args));
  // a row the key SELECT did not read has unknown old keys: the model's generation goes too
  await flushAfterCommit(transactionOf(args), cache.store, [
    ...state.keys,
    cache.tableTokenKey,
    ...cache.cascadeKeys,
    ...(phantoms ? [cache.generationKey] : []),
  ]);
}

/** True when the write touched a row its key SELECT had not read (affected-rows.ts; PostgreSQL only). */
function hasPhantoms(state: BeforeState, args: HookArgs): boolean {
  const touched = affectedIds(builderOf(args));
  if (!touched || touched.length === 0) return false;
  const read = new Set(state.ids.map((id) => String(id)));
  return touched.some((id) => !read.has(String(id)));
}

/**
 * beforeInsert: a plain insert changes no existing row, but an upsert (`onConflict().merge()`) may rewrite one,
 * so its current keys are read first.
 */
export async function beforeInsert(modelClass: CachedClass, args: HookArgs): Promise<void> {
  const builder = builderOf(args);
  if (!builder.has('onConflict') || !builder.has('merge')) return; // `ignore()` leaves existing rows as they were
  const cache = modelCache(modelClass, knexOf(modelClass, args));
  // MySQL's ON DUPLICATE KEY UPDATE, which knex sends whatever columns `onConflict` names, matches any unique index
  const conflict = /^mysql/.test(dialectOf(knexOf(modelClass, args))) ? undefined : conflictColumns(builder);
  if (conflict === undefined) {
    // `onConflict()` with no columns, or MySQL: any unique index may match, and only the DB knows them all. The
    // model is flushed whole after the write instead.
    before.set(builder, { keys: [cache.generationKey], ids: [], newKeys: [], newValuesUnknown: false });
    return;
  }
  // The rows the upsert may rewrite: those matching an item on the conflict columns (a unique column that need
  // not be a cache key) or on any cache key. Their old keys are flushed with the new ones.
  const items = args.inputItems as unknown as Record<string, unknown>[];
  // items hold properties, `onConflict` names columns: matched as properties, written as columns. The conflict
  // target and every cache key (composite ones as tuples) may each match an existing row.
  const targets = [...new Set([...cache.catalog.keyColumns, cache.keyOf(conflict)])];
  let keys: string[] = [];
  for (let i = 0; i < items.length; i += UPSERT_CHUNK) {
    const chunk = items.slice(i, i + UPSERT_CHUNK);
    const conditions = targets
      .map((target) => [keyParts(target).map(cache.columnOf), chunk.map((item) => rowKeyOf(item, target)).filter((value) => value !== undefined)] as const)
      .filter(([, values]) => values.length > 0);
    if (conditions.length === 0) continue;
    const rows = (await direct(modelClass.query(transactionOf(args)))
      .select(keyColumnsOf(cache))
      .where((where) => {
        for (const [columns, values] of conditions) whereKeyIn(where, columns, values, 'or');
      })) as unknown as Model[];
    keys = keys.concat(rows.flatMap((row) => rowKeys(cache, row)));
  }
  before.set(builder, { keys, ids: [], newKeys: [], newValuesUnknown: false });
}

/** Items per SELECT of an upsert's existing rows: a few bound values each, well under any DB's limit. */
const UPSERT_CHUNK = 1000;

/**
 * The columns of `onConflict(columns)`, as Objection keeps its arguments; undefined for `onConflict()` with none
 * (or a raw() target the cache cannot read).
 */
function conflictColumns(builder: QueryBuilder<Model>): string[] | undefined {
  const target = operationArgs(builder, 'onConflict')?.[0];
  const columns = typeof target === 'string' ? [target] : Array.isArray(target) ? target : undefined;
  return columns && columns.length > 0 && columns.every((column) => typeof column === 'string') ? (columns as string[]) : undefined;
}

/** afterInsert: flush the cached misses of the new rows' keys (and an upsert's old keys). */
export async function afterInsert(modelClass: CachedClass, args: HookArgs): Promise<void> {
  const cache = modelCache(modelClass, knexOf(modelClass, args));
  const rows = [...(args.result as unknown as object[]), ...(args.inputItems as unknown as object[])];
  const keys = rows.flatMap((row) => (row && typeof row === 'object' ? rowKeys(cache, row) : []));
  const upserted = before.get(builderOf(args))?.keys ?? [];
  if (rows.length > 0) upserted.push(cache.tableTokenKey, ...cache.cascadeKeys);
  await flushAfterCommit(transactionOf(args), cache.store, keys.concat(upserted));
}

/** The DB columns of every key the table's rows are cached under (a composite key's parts each), to SELECT. */
function keyColumnsOf(cache: ModelCache): string[] {
  return [...new Set([...cache.catalog.keyColumns, ...cache.catalog.indexColumns].flatMap(keyParts))].map(cache.columnOf);
}

/** The keys the rows with `ids` hold now, read in chunks that stay under every DB's limit of bound parameters. */
async function currentKeys(modelClass: CachedClass, cache: ModelCache, ids: unknown[], trx: Knex | undefined): Promise<string[]> {
  let keys: string[] = [];
  const size = Math.floor(WHERE_IN_CHUNK / cache.idColumns.length);
  for (let i = 0; i < ids.length; i += size) {
    const chunk = ids.slice(i, i + size) as KeyValue[];
    const rows = (await whereKeyIn(direct(modelClass.query(trx)).select(keyColumnsOf(cache)), cache.idColumns, chunk)) as unknown as Model[];
    keys = keys.concat(rows.flatMap((row) => rowKeys(cache, row)));
  }
  return keys;
}
