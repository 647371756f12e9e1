import type { Knex } from 'knex';
import { Model, type TransactionOrKnex } from 'objection';
import { decodeRow } from '../core/codec.js';
import { readRows } from '../reads/db-read.js';
import { givenKey } from '../core/keys.js';
import { assertKeyColumn, boundKnex, modelSettings, type CachedClass, type ModelSettings } from '../config/settings.js';
import { inScope } from './model-cache.js';
import { readOneThrough, readThrough, type RowOrMiss } from '../reads/read-through.js';
import type { KeyValue } from '../core/public-types.js';
import { isTransaction } from '../config/scope.js';
import { rowModel } from './row-model.js';

/** What a lookup reads, settled before any I/O: every argument checked. */
interface Lookup {
  readonly settings: ModelSettings;
  readonly column: string;
  readonly keys: readonly KeyValue[];
  /** The knex (or transaction) the DB is read through. */
  readonly source: Knex;
}

/**
 * Settles a lookup of `values` of a column (`by`: its name, or a pick from the model's settings such as its
 * primary column): throws a TypeError naming what is wrong, before any I/O.
 */
function settle(
  modelClass: CachedClass,
  by: unknown | ((cache: ModelSettings) => string),
  values: readonly unknown[],
  knex: TransactionOrKnex | undefined,
): Lookup {
  const settings = modelSettings(modelClass);
  const column = keyColumnOf(settings, by);
  // a composite key's tuples become one value each (core/keys.ts `tupleValue`); every one is checked first
  const keys = values.map((value) => givenKey(settings.modelName, column, value));
  return { settings, column, keys, source: boundKnex(modelClass, knex as Knex | undefined) };
}

/** The key column `by` names; a pick from the settings (the primary column, the id) names one as they do already. */
function keyColumnOf(settings: ModelSettings, by: unknown | ((cache: ModelSettings) => string)): string {
  const column = typeof by === 'function' ? (by as (cache: ModelSettings) => string)(settings) : columnNamed(settings, by);
  assertKeyColumn(settings, column);
  return column;
}

/**
 * Looks up `values` of a column, aligned with the input, `undefined` where no row has the value. Every argument
 * is checked before any I/O. The DB read runs on `knex` when given, else on the class's own knex (`bindKnex`), in
 * that database's cache scope. Through a transaction (given, or bound to the class) the DB answers and the cache
 * is neither read nor filled: the transaction may see rows no one else can yet. `operation` (the static called)
 * names events.
 */
export async function lookup<M extends Model>(
  modelClass: CachedClass,
  by: unknown | ((cache: ModelSettings) => string),
  values: readonly unknown[],
  knex: TransactionOrKnex | undefined,
  operation: string,
): Promise<(M | undefined)[]> {
  return lookupSettled<M>(modelClass, settle(modelClass, by, values, knex), operation);
}

async function lookupSettled<M extends Model>(
  modelClass: CachedClass,
  { settings, column, keys, source }: Lookup,
  operation: string,
): Promise<(M | undefined)[]> {
  if (isTransaction(source)) {
    const found = await readRows(modelClass, column, keys, source);
    return found.map((entry) => entry?.row as M | undefined);
  }
  const rows = await readThrough(modelClass, inScope(settings, source), column, keys, source, operation);
  const models = rows.map((row) => toModel<M>(modelClass, row));
  await afterFind(modelClass, source, models);
  return models;
}

/**
 * As Objection does after a find: the model's own `$afterFind` on each of `models` read through the cache, with
 * the query context (here the knex read).
 */
export async function afterFind(modelClass: CachedClass, source: Knex, models: readonly (Model | undefined)[]): Promise<void> {
  if (!hasAfterFind(modelClass)) return;
  const context = { transaction: source } as unknown as Parameters<Model['$afterFind']>[0];
  await Promise.all(models.map((model) => model?.$afterFind(context)));
}

/**
 * `lookup` of one value, as `get`, `getById` and `getBy` need it: the same checks, reads and answers, with the
 * fewest promise jobs between the store's reply and the caller (a hit on Redis waits on nothing else). Bad
 * input rejects, as from an async function.
 */
export function lookupOne<M extends Model>(
  modelClass: CachedClass,
  by: unknown | ((cache: ModelSettings) => string),
  value: unknown,
  knex: TransactionOrKnex | undefined,
  operation: string,
): Promise<M | undefined> {
  try {
    // `settle` of one value, without its arrays: this is the first work of every hit
    const settings = modelSettings(modelClass);
    const column = keyColumnOf(settings, by);
    const key = givenKey(settings.modelName, column, value);
    const source = boundKnex(modelClass, knex as Knex | undefined);
    if (isTransaction(source) || hasAfterFind(modelClass)) {
      return lookupSettled<M>(modelClass, { settings, column, keys: [key], source }, operation).then((models) => models[0]);
    }
    // the scope of a knex the cache cannot tell the database of throws here, before any I/O, like bad input
    const model = readOneThrough(modelClass, inScope(settings, source), column, key, source, operation, (row) => toModel<M>(modelClass, row));
    return model instanceof Promise ? model : Promise.resolve(model);
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/** The model instance of a row read through the cache. */
function toModel<M extends Model>(modelClass: CachedClass, row: RowOrMiss): M | undefined {
  return row === null ? undefined : rowModel<M>(modelClass, decodeRow(row));
}

function hasAfterFind(modelClass: CachedClass): boolean {
  return modelClass.prototype.$afterFind !== Model.prototype.$afterFind;
}

/**
 * The key a caller named, among `names` (the model's keys, or for `getAllBy` its indexes): a column by property
 * or DB name (`post_slug` for `postSlug` under snakeCaseMappers is the same key), or the columns of a composite
 * key as declared. Anything else is returned as given, for the caller's assertion to refuse.
 */
export function columnNamed(settings: ModelSettings, given: unknown, names: readonly string[] = settings.keyColumns): unknown {
  if (typeof given === 'string' && given !== '') {
    const mapped = settings.propertyOf(given);
    return names.includes(mapped) ? mapped : given;
  }
  if (Array.isArray(given) && given.length > 0 && given.every((column) => typeof column === 'string' && column !== '')) {
    const name = settings.keyOf(given as string[]);
    return names.includes(name) ? name : given;
  }
  return given;
}

export function assertArray(modelClass: CachedClass, name: string, values: unknown): asserts values is readonly unknown[] {
  if (!Array.isArray(values)) {
    throw new TypeError(`${modelClass.name}.${name}: expected an array of keys, got ${values === null ? 'null' : typeof values}`);
  }
}
