import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { Model } from 'objection';
import { decodeRow, encodeRow, type EncodedRow } from '../core/codec.js';
import { entryKeys, rowKeyOf, tableTag, tableTokenKey, unanchoredValuesTag, valueKey } from '../core/keys.js';
import type { CachedOptions } from '../core/public-types.js';
import { isMilliseconds, resolveOptions, type ResolvedOptions } from '../config/options.js';
import { isTransaction, scopeOf } from '../config/scope.js';
import { isCachedClass, modelSettings, tokenTtlFor, type CachedClass, type ModelCache } from '../config/settings.js';
import { stampedRead, type ValueCodec } from '../reads/stamped-read.js';
import { GuardedStore } from '../store/guarded-store.js';
import { modelCache } from './model-cache.js';
import { discover } from './table-dependencies.js';

/** The scope of values that depend on no database. */
const NO_DATABASE = 'none';

/** Where a value lives, what invalidates it, and for how long it is kept. */
interface Resolved {
  /** The value is read through an open transaction: it is computed, neither read from nor written to the cache. */
  readonly uncached?: true;
  readonly store: GuardedStore;
  readonly deps: string[];
  /** The hash tag the value is stored under: its first dependency's, so that one dependency means one slot. */
  readonly tag: string;
  readonly ttl: number;
  readonly tokenTtl: number;
  /** What events name: the first model dependency and its table, else `cached` and the first table named. */
  readonly model: string;
  readonly table: string;
}

/** The model dependencies (rows and classes) of a value: their caches, and the tokens and tags they add. */
interface ModelDependencies {
  readonly caches: ModelCache[];
  readonly classes: CachedClass[];
  /** The knex each model dependency reads through. */
  readonly sources: Knex[];
  readonly deps: string[];
  readonly tags: string[];
}

/** The store and prefix every dependency shares: the first model's, else the configured ones. */
interface Home {
  readonly anchor: ModelCache | undefined;
  /** The configured options, where no model dependency settles them. */
  readonly defaults: ResolvedOptions | undefined;
  readonly store: GuardedStore;
  readonly prefix: string;
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
  const value = await stampedRead(
    resolved.store,
    {
      key: valueKey(resolved.tag, key),
      deps: resolved.deps,
      ttl: resolved.ttl,
      tokenTtl: resolved.tokenTtl,
      about: { model: resolved.model, table: resolved.table, operation: 'cached', kind: 'value', key },
    },
    load,
    VALUES,
  );
  return value as Awaited<T>;
}

function resolve(key: string, options: CachedOptions): Resolved {
  const what = `cached(${JSON.stringify(key)})`;
  const dependsOn = checkOptions(what, options);
  const models = modelDependencies(what, dependsOn, options.knex);
  const home = homeOf(what, models.caches, options);
  const tables = dependsOn.filter((item): item is string => typeof item === 'string');
  checkTablesKnown(what, home, tables, models.classes);
  // Table names alone belong to the database of the `knex` option, else of Objection's Model.knex(), else of
  // the first cached model seen for the table: a multi-tenant app passes the tenant's knex.
  const owner = tables.length > 0 && !home.anchor && !options.knex ? home.store.state.tables.get(home.prefix, tables[0]!)?.owner : undefined;
  const ownerClass = owner as typeof Model | undefined;
  const source = options.knex ?? models.sources[0] ?? (ownerClass ? ((Model.knex() ?? ownerClass.knex()) as Knex | undefined) : undefined);
  if (tables.length > 0 && !source)
    throw new TypeError(`${what}: no knex tells which database the tables belong to; pass the knex option or bind Model.knex()`);
  const ownerScope = ownerClass && isCachedClass(ownerClass) ? modelSettings(ownerClass).scope : undefined;
  const scope = home.anchor ? home.anchor.space.scope : source ? scopeOf(source, ownerScope ?? home.defaults!.scope, what) : NO_DATABASE;
  const tableTags = tables.map((table) => tableTag(home.prefix, scope, table));
  const deps = [...models.deps, ...tableTags.map(tableTokenKey)];
  const tags = [...models.tags, ...tableTags];
  return {
    ...(models.sources.some(isTransaction) || (source && isTransaction(source)) ? { uncached: true } : {}),
    store: home.store,
    deps: [...new Set(deps)].sort(),
    tag: tags[0] ?? unanchoredValuesTag(home.prefix, scope),
    ttl: checkTtl(what, options.ttl ?? home.anchor?.ttl ?? home.defaults!.ttl),
    tokenTtl: home.anchor?.tokenTtl ?? tokenTtlFor(home.defaults!),
    model: home.anchor?.modelName ?? 'cached',
    table: home.anchor?.table ?? tables[0] ?? '',
  };
}

/** Checks the options' shape before any I/O; answers `dependsOn`. */
function checkOptions(what: string, options: CachedOptions): readonly unknown[] {
  if (options === null || typeof options !== 'object') throw new TypeError(`${what}: options must be an object`);
  const dependsOn = options.dependsOn ?? [];
  if (!Array.isArray(dependsOn)) throw new TypeError(`${what}: dependsOn must be an array, got ${typeof dependsOn}`);
  if (options.knex !== undefined && (typeof options.knex !== 'function' || !('client' in options.knex))) {
    throw new TypeError(`${what}: knex must be a knex instance or transaction, got ${options.knex === null ? 'null' : typeof options.knex}`);
  }
  return dependsOn as readonly unknown[];
}

/** The rows and model classes of `dependsOn`: a row's id guard and its model's generation, a class's table token. */
function modelDependencies(what: string, dependsOn: readonly unknown[], knex: Knex | undefined): ModelDependencies {
  const found: ModelDependencies = { caches: [], classes: [], sources: [], deps: [], tags: [] };
  const cacheOf = (modelClass: CachedClass): ModelCache => {
    const source = knex ?? (modelClass.knex() as Knex | undefined);
    if (!source)
      throw new TypeError(`${what}: ${modelClass.name} is bound to no knex, so the database the value belongs to is unknown; bind it or pass the knex option`);
    found.sources.push(source);
    const cache = modelCache(modelClass, source);
    found.caches.push(cache);
    found.classes.push(modelClass);
    found.tags.push(cache.space.tag);
    return cache;
  };
  for (const item of dependsOn) {
    if (typeof item === 'string') continue;
    if (item instanceof Model) {
      const modelClass = item.constructor as typeof Model;
      if (!isCachedClass(modelClass)) throw new TypeError(`${what}: ${modelClass.name} is not a CachedModel, so its writes cannot invalidate the value`);
      const cache = cacheOf(modelClass);
      const id = rowKeyOf(item, cache.idProperty);
      if (id === undefined) throw new TypeError(`${what}: the ${modelClass.name} instance has no id to depend on`);
      // A row's id guard is deleted by every write to that row; the generation by flushAll.
      found.deps.push(entryKeys(cache.space, cache.idProperty, id).guard, cache.generationKey);
    } else if (typeof item === 'function' && isCachedClass(item)) {
      found.deps.push(cacheOf(item).tableTokenKey);
    } else {
      const name = typeof item === 'function' ? (item as { name?: string }).name : undefined;
      throw new TypeError(
        `${what}: dependsOn takes cached model instances, cached model classes and table names, got ${name ? `${name}, which is not a CachedModel` : item === null ? 'null' : typeof item}`,
      );
    }
  }
  return found;
}

/** The one store, prefix and database every model dependency shares (a TypeError names the one that differs). */
function homeOf(what: string, caches: readonly ModelCache[], options: CachedOptions): Home {
  const anchor = caches[0];
  const defaults = anchor ? undefined : resolveOptions({}, { store: options.store, ttl: options.ttl });
  const keyv = anchor?.store.keyv ?? defaults!.store;
  const prefix = anchor?.prefix ?? defaults!.prefix;
  for (const cache of caches) {
    if (cache.store.keyv !== keyv || cache.prefix !== prefix) {
      throw new TypeError(`${what}: ${cache.modelName} caches in another store or prefix than ${anchor!.modelName}; one value's dependencies must share one`);
    }
    if (cache.space.scope !== anchor!.space.scope) {
      throw new TypeError(`${what}: ${cache.modelName} reads another database than ${anchor!.modelName}; one value's dependencies must share one`);
    }
  }
  if (options.store !== undefined && options.store !== keyv) throw new TypeError(`${what}: store differs from the store of its dependencies`);
  return { anchor, defaults, prefix, store: anchor?.store ?? valueStoreOf(keyv, defaults!) };
}

/** Throws unless every table named is one whose token the cache keeps in this store and prefix. */
function checkTablesKnown(what: string, home: Home, tables: readonly string[], classes: readonly CachedClass[]): void {
  const known = (table: string) => home.store.state.tables.get(home.prefix, table) !== undefined;
  for (const table of tables) {
    if (!known(table)) for (const modelClass of classes) discover(modelClass);
    if (!known(table)) {
      throw new TypeError(
        `${what}: no cached model with this store and prefix writes table ${JSON.stringify(table)} (yet, in this process), so nothing would invalidate the value; pass its model class instead`,
      );
    }
  }
}

function checkTtl(what: string, ttl: unknown): number {
  if (!isMilliseconds(ttl)) throw new TypeError(`${what}: ttl must be a finite number of milliseconds >= 0, got ${String(ttl)}`);
  return ttl;
}

/** The access of values that depend on no model to a store (its state is the store's CacheStore, shared). */
const valueStores = new WeakMap<Keyv, GuardedStore>();

function valueStoreOf(keyv: Keyv, options: ResolvedOptions): GuardedStore {
  let store = valueStores.get(keyv);
  if (!store) valueStores.set(keyv, (store = new GuardedStore(keyv, options.timeout, options.onError, 'cached', '', options.localCache)));
  return store;
}
