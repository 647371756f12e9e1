import type { Knex } from 'knex';
import { Model, type TransactionOrKnex } from 'objection';
import { decodeRow } from '../core/codec.js';
import { readRows } from '../reads/db-read.js';
import { assertKeyValue } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
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
  // a key named by its column (`post_slug` for `postSlug` under snakeCaseMappers) is the same key
  const mapped = typeof given === 'string' && given !== '' ? settings.propertyOf(given) : undefined;
  const column = mapped !== undefined && settings.keyColumns.includes(mapped) ? mapped : given;
  assertKeyColumn(settings, column);
  for (const value of values) assertKeyValue(settings.modelName, column, value);
  const keys = values as readonly KeyValue[];
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

export function assertArray(modelClass: CachedClass, name: string, values: unknown): asserts values is readonly unknown[] {
  if (!Array.isArray(values)) {
    throw new TypeError(`${modelClass.name}.${name}: expected an array of keys, got ${values === null ? 'null' : typeof values}`);
  }
}
