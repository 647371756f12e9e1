import type { Knex } from 'knex';
import { Model, type TransactionOrKnex } from 'objection';
import { decodeRow } from '../core/codec.js';
import { readRows } from '../reads/db-read.js';
import { givenKey } from '../core/keys.js';
import { assertKeyColumn, boundKnex, modelSettings, type CachedClass, type ModelSettings } from '../config/settings.js';
import { inScope } from './model-cache.js';
import { readThrough } from '../reads/read-through.js';
import { isTransaction } from '../config/scope.js';

/**
 * Looks up `values` of a column (`by`: its name, or a pick from the model's settings such as its primary
 * column), aligned with the input, `undefined` where no row has the value. Every argument is checked before any
 * I/O. The DB read runs on `knex` when given, else on the class's own knex (`bindKnex`), in that database's
 * cache scope. Through a transaction (given, or bound to the class) the DB answers and the cache is neither read
 * nor filled: the transaction may see rows no one else can yet. `operation` (the static called) names events.
 */
export async function lookup<M extends Model>(
  modelClass: CachedClass,
  by: unknown | ((cache: ModelSettings) => string),
  values: readonly unknown[],
  knex: TransactionOrKnex | undefined,
  operation: string,
): Promise<(M | undefined)[]> {
  const settings = modelSettings(modelClass);
  const given = typeof by === 'function' ? (by as (cache: ModelSettings) => string)(settings) : by;
  const column = columnNamed(settings, given);
  assertKeyColumn(settings, column);
  // a composite key's tuples become one value each (core/keys.ts `tupleValue`); every one is checked first
  const keys = values.map((value) => givenKey(settings.modelName, column, value));
  const source = boundKnex(modelClass, knex as Knex | undefined);
  if (isTransaction(source)) {
    const found = await readRows(modelClass, column, keys, source);
    return found.map((entry) => entry?.row as M | undefined);
  }
  const cache = inScope(settings, source);
  const rows = await readThrough(modelClass, cache, column, keys, source, operation);
  const models = rows.map((row) => (row === null ? undefined : (modelClass.fromDatabaseJson(decodeRow(row)) as M)));
  // As Objection does after a find: the model's own $afterFind, with the query context (here the knex read).
  if (modelClass.prototype.$afterFind !== Model.prototype.$afterFind) {
    const context = { transaction: source } as unknown as Parameters<Model['$afterFind']>[0];
    await Promise.all(models.map((model) => model?.$afterFind(context)));
  }
  return models;
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
