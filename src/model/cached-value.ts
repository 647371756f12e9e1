import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { Model } from 'objection';
import { decodeRow, encodeRow, type EncodedRow } from '../core/codec.js';
import { GuardedStore } from '../store/guarded-store.js';
import { encodeKeyPart, entryKeys, rowKeyValue, tableTag, versionKey } from '../core/keys.js';
import { isCachedClass, modelCache, modelSettings, tokenTtlFor, type CachedClass, type ModelCache } from '../config/settings.js';
import { isMilliseconds, resolveOptions } from '../config/options.js';
import { isTransaction, scopeOf } from '../config/scope.js';
import { discover, isVersioned, tableOwner } from '../store/table-registry.js';
import { versionedRead, type ValueCodec } from '../reads/stamped-read.js';

/** What a `cached()` value depends on: a row (a cached model instance), a cached model class, or a table name. */
export type CacheDependency = Model | typeof Model | string;

export interface CachedOptions {
  /** Lifetime in ms; 0 keeps the value until a dependency changes. Default: the first dependency's model `ttl`, else the configured `ttl`. */
  readonly ttl?: number;
  /**
   * What invalidates the value: a model instance (any write to that row), a model class (any write to its
   * table), a table name (any write to it through a cached model, or `flushTables`). Every dependency must live
   * in one store.
   */
  readonly dependsOn?: readonly CacheDependency[];
  /** The store, when no dependency names one. Default: the configured store. */
  readonly store?: Keyv;
  /**
   * The database the value is computed from, which scopes it and its table dependencies: a tenant's knex. Default:
   * the knex of the first model dependency's class, else Objection's `Model.knex()`. Through a transaction the
   * value is computed and not cached.
   */
  readonly knex?: Knex;
}

/** The scope of values that depend on no database. */
const NO_DATABASE = 'none';

interface Resolved {
  /** The value is read through an open transaction: it is computed, neither read from nor written to the cache. */
  readonly uncached?: true;
  readonly store: GuardedStore;
  readonly deps: string[];
  /** The hash tag the value is stored under: its first dependency's, so that one dependency means one slot. */
  readonly tag: string;
  readonly ttl: number;
  readonly tokenTtl: number;
}

/** Values as the codec of rows keeps them (Dates, Buffers, bigints survive); `undefined` is kept too. */
const VALUES: ValueCodec<unknown> = {
  encode: (value) => (value === undefined ? null : encodeRow(value as object)),
  decode: (row: EncodedRow | null) => (row === null ? undefined : decodeRow(row)),
};

/**
 * `compute()`'s result, cached under `key` until a dependency changes or `ttl` passes. Concurrent calls for one
 * key in a process share one computation; a value computed from data read before a write to a dependency is
 * never served after it. A store failure runs `compute()` uncached; an error from `compute()` reaches every
 * caller waiting on it and is not cached.
 *
 *     const html = await cached(`sidebar:${post.id}`, () => render(post), { dependsOn: [post, Author] });
 */
export async function cached<T>(key: string, compute: () => T | Promise<T>, options: CachedOptions = {}): Promise<Awaited<T>> {
  if (typeof key !== 'string' || key === '') throw new TypeError(`cached: key must be a non-empty string, got ${JSON.stringify(key)}`);
  if (typeof compute !== 'function') throw new TypeError(`cached(${JSON.stringify(key)}): expected a function computing the value, got ${typeof compute}`);
  const resolved = resolve(key, options);
  if (resolved.uncached) return (await compute()) as Awaited<T>;
  const load = async (): Promise<unknown> => compute();
  const value = await versionedRead(
    resolved.store,
    { key: `${resolved.tag}:c:${encodeKeyPart(key)}`, deps: resolved.deps, ttl: resolved.ttl, tokenTtl: resolved.tokenTtl },
    load,
    VALUES,
  );
  return value as Awaited<T>;
}

function resolve(key: string, options: CachedOptions): Resolved {
  const what = `cached(${JSON.stringify(key)})`;
  if (options === null || typeof options !== 'object') throw new TypeError(`${what}: options must be an object`);
  const dependsOn = options.dependsOn ?? [];
  if (!Array.isArray(dependsOn)) throw new TypeError(`${what}: dependsOn must be an array, got ${typeof dependsOn}`);

  if (options.knex !== undefined && (typeof options.knex !== 'function' || !('client' in options.knex))) {
    throw new TypeError(`${what}: knex must be a knex instance or transaction, got ${options.knex === null ? 'null' : typeof options.knex}`);
  }
  // Models first: the first one settles store, prefix and database for table names.
  const caches: ModelCache[] = [];
  const sources: Knex[] = [];
  const knexOf = (modelClass: CachedClass): Knex => {
    const knex = options.knex ?? (modelClass.knex() as Knex | undefined);
    if (!knex) throw new TypeError(`${what}: ${modelClass.name} is bound to no knex, so the database the value belongs to is unknown; bind it or pass the knex option`);
    sources.push(knex);
    return knex;
  };
  const classes: CachedClass[] = [];
  const deps: string[] = [];
  const tags: string[] = [];
  for (const item of dependsOn as unknown[]) {
    if (typeof item === 'string') continue;
    if (item instanceof Model) {
      const modelClass = item.constructor as typeof Model;
      if (!isCachedClass(modelClass)) throw new TypeError(`${what}: ${modelClass.name} is not a CachedModel, so its writes cannot invalidate the value`);
      const cache = modelCache(modelClass, knexOf(modelClass));
      const id = rowKeyValue(item.$id());
      if (id === undefined) throw new TypeError(`${what}: the ${modelClass.name} instance has no id to depend on`);
      // A row's id guard is deleted by every write to that row; the generation by flushAll.
      deps.push(entryKeys(cache.space, cache.idProperty, id).guard, cache.generationKey);
      tags.push(cache.space.tag);
      caches.push(cache);
      classes.push(modelClass);
    } else if (typeof item === 'function' && isCachedClass(item)) {
      const cache = modelCache(item, knexOf(item));
      deps.push(cache.versionKey);
      tags.push(cache.space.tag);
      caches.push(cache);
      classes.push(item);
    } else {
      const name = typeof item === 'function' ? (item as { name?: string }).name : undefined;
      throw new TypeError(`${what}: dependsOn takes cached model instances, cached model classes and table names, got ${name ? `${name}, which is not a CachedModel` : item === null ? 'null' : typeof item}`);
    }
  }
  const anchor = caches[0];
  const settings = anchor ? undefined : resolveOptions({}, { store: options.store, ttl: options.ttl });
  const keyv = anchor?.store.keyv ?? settings!.store;
  const prefix = anchor?.prefix ?? settings!.prefix;
  for (const cache of caches) {
    if (cache.store.keyv !== keyv || cache.prefix !== prefix) {
      throw new TypeError(`${what}: ${cache.modelName} caches in another store or prefix than ${anchor!.modelName}; one value's dependencies must share one`);
    }
    if (cache.space.scope !== anchor!.space.scope) {
      throw new TypeError(`${what}: ${cache.modelName} reads another database than ${anchor!.modelName}; one value's dependencies must share one`);
    }
  }
  if (options.store !== undefined && options.store !== keyv) throw new TypeError(`${what}: store differs from the store of its dependencies`);
  const tables = (dependsOn as unknown[]).filter((item): item is string => typeof item === 'string');
  for (const table of tables) {
    if (!isVersioned(keyv, prefix, table)) for (const modelClass of classes) discover(modelClass);
    if (!isVersioned(keyv, prefix, table)) {
      throw new TypeError(
        `${what}: no cached model with this store and prefix writes table ${JSON.stringify(table)} (yet, in this process), so nothing would invalidate the value; pass its model class instead`,
      );
    }
  }
  // Table names alone belong to the database of the `knex` option, else of Objection's Model.knex(), else of
  // the first cached model seen for the table: a multi-tenant app passes the tenant's knex.
  const owner = tables.length > 0 && !anchor && !options.knex ? tableOwner(keyv, prefix, tables[0]!) : undefined;
  const source = options.knex ?? sources[0] ?? (owner ? ((Model.knex() ?? owner.knex()) as Knex | undefined) : undefined);
  if (tables.length > 0 && !source) throw new TypeError(`${what}: no knex tells which database the tables belong to; pass the knex option or bind Model.knex()`);
  const ownerScope = owner && isCachedClass(owner) ? modelSettings(owner).scope : undefined;
  const scope = anchor ? anchor.space.scope : source ? scopeOf(source, ownerScope ?? settings!.scope, what) : NO_DATABASE;
  for (const table of tables) {
    const tag = tableTag(prefix, scope, table);
    deps.push(versionKey(tag));
    tags.push(tag);
  }
  const ttl = checkTtl(what, options.ttl ?? anchor?.ttl ?? settings!.ttl);
  return {
    ...(sources.some(isTransaction) || (source && isTransaction(source)) ? { uncached: true } : {}),
    store: anchor?.store ?? guardedStoreOf(keyv, settings!),
    deps: [...new Set(deps)].sort(),
    tag: tags[0] ?? tableTag(prefix, scope, 'cached'),
    ttl,
    tokenTtl: anchor?.tokenTtl ?? tokenTtlFor(settings!),
  };
}

function checkTtl(what: string, ttl: unknown): number {
  if (!isMilliseconds(ttl)) throw new TypeError(`${what}: ttl must be a finite number of milliseconds >= 0, got ${String(ttl)}`);
  return ttl;
}

const storesByKeyv = new WeakMap<Keyv, GuardedStore>();

function guardedStoreOf(keyv: Keyv, settings: ReturnType<typeof resolveOptions>): GuardedStore {
  let store = storesByKeyv.get(keyv);
  if (!store) storesByKeyv.set(keyv, (store = new GuardedStore(keyv, settings.timeout, settings.onError, 'cached')));
  return store;
}
