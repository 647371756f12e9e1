import type { Knex } from 'knex';
import type { Model } from 'objection';
import { decodeRow, encodeRow, type EncodedRow } from '../core/codec.js';
import { isModelClass } from '../core/internals.js';
import { queryKey } from '../core/keys.js';
import type { QueryCacheOptions } from '../core/public-types.js';
import { isMilliseconds } from '../config/options.js';
import { isCachedClass, modelSettings, tableOf, type CachedClass } from '../config/settings.js';
import { tablesOf } from '../reads/query-shape.js';
import { stampedRead, type ValueCodec } from '../reads/stamped-read.js';
import { modelCache } from './model-cache.js';
import { dependencyKeys } from './table-dependencies.js';

/** Checks `cache()` options before any I/O; a TypeError names the model and the option. */
export function checkQueryCacheOptions(modelName: string, options: unknown): QueryCacheOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${modelName}.query().cache(): options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const { ttl, dependsOn } = options as Record<string, unknown>;
  if (ttl !== undefined && !isMilliseconds(ttl)) {
    throw new TypeError(`${modelName}.query().cache(): ttl must be a finite number of milliseconds >= 0, got ${String(ttl)}`);
  }
  if (dependsOn !== undefined) checkTables(`${modelName}.query().cache()`, dependsOn);
  return options as QueryCacheOptions;
}

/** Throws unless `dependsOn` is an array of table names and model classes. */
export function checkTables(what: string, dependsOn: unknown): asserts dependsOn is readonly (typeof Model | string)[] {
  if (!Array.isArray(dependsOn)) throw new TypeError(`${what}: dependsOn must be an array, got ${typeof dependsOn}`);
  for (const item of dependsOn) {
    const ok = (typeof item === 'string' && item !== '') || isModelClass(item);
    if (!ok) throw new TypeError(`${what}: dependsOn takes model classes and table names, got ${item === null ? 'null' : typeof item}`);
  }
}

/** The table names behind `dependsOn`; cached model classes are set up on the way, which registers their tables. */
export function tablesNamed(dependsOn: readonly (typeof Model | string)[] = []): string[] {
  return dependsOn.map((item) => {
    if (typeof item === 'string') return item;
    if (isCachedClass(item)) modelSettings(item);
    return tableOf(item);
  });
}

/** Raw DB rows, faithfully: knex answers a select with an array; anything else is not cached. */
const ROWS: ValueCodec<unknown> = {
  encode: (rows) => (Array.isArray(rows) ? encodeRow(rows) : undefined),
  decode: (row: EncodedRow | null) => (row === null ? [] : (decodeRow(row) as unknown)),
};

/**
 * The rows of `knexBuilder` (a select that runs on `knex`) through the cache of `knex`'s database: keyed by its
 * SQL and bindings, stamped with the tokens of every table it reads, computed by `fromDb` on a miss.
 */
export function cachedQueryRows(
  knexBuilder: Knex.QueryBuilder,
  modelClass: CachedClass,
  knex: Knex,
  options: QueryCacheOptions,
  fromDb: () => Promise<unknown>,
  operation = 'query().cache()',
): Promise<unknown> {
  const cache = modelCache(modelClass, knex);
  const { sql, bindings } = knexBuilder.toSQL();
  const tables = [...tablesOf(knexBuilder), ...tablesNamed(options.dependsOn)];
  const deps = dependencyKeys(modelClass, cache, tables, `${modelClass.name}.query().cache()`);
  return stampedRead(
    cache.store,
    {
      key: queryKey(cache.space, encodeRow([sql, bindings as unknown[]]).json),
      deps,
      ttl: options.ttl ?? cache.ttl,
      tokenTtl: cache.tokenTtl,
      about: { model: cache.modelName, table: cache.table, operation, kind: 'query' },
    },
    fromDb,
    ROWS,
  );
}
