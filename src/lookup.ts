import type { Model, TransactionOrKnex } from 'objection';
import { decodeRow } from './codec.js';
import { readRows } from './db-read.js';
import { assertKeyValue, type KeyValue } from './keys.js';
import { assertKeyColumn, modelCache, type CachedClass, type ModelCache } from './model-config.js';
import { readThrough } from './read-through.js';

/**
 * Looks up `values` of a column (`by`: its name, or a pick from the model's settings such as its primary
 * column), aligned with the input, `undefined` where no row has the value. Every argument
 * is checked before any I/O. With a transaction the DB answers through it and the cache is neither read nor
 * filled: the transaction may see rows no one else can yet.
 */
export async function lookup<M extends Model>(
  modelClass: CachedClass,
  by: unknown | ((cache: ModelCache) => string),
  values: readonly unknown[],
  trx: TransactionOrKnex | undefined,
): Promise<(M | undefined)[]> {
  const cache = modelCache(modelClass);
  const column = typeof by === 'function' ? (by as (cache: ModelCache) => string)(cache) : by;
  assertKeyColumn(cache, column);
  for (const value of values) assertKeyValue(cache.space, column, value);
  const keys = values as readonly KeyValue[];
  if (trx) {
    const found = await readRows(modelClass, column, keys, trx);
    return found.map((entry) => entry?.row as M | undefined);
  }
  const lookups = await readThrough(modelClass, cache, column, keys);
  return lookups.map((row) => (row === null ? undefined : (modelClass.fromDatabaseJson(decodeRow(row)) as M)));
}

export function assertArray(modelClass: CachedClass, name: string, values: unknown): asserts values is readonly unknown[] {
  if (!Array.isArray(values)) {
    throw new TypeError(`${modelClass.name}.${name}: expected an array of keys, got ${values === null ? 'null' : typeof values}`);
  }
}
