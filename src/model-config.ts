import type Keyv from 'keyv';
import type { Model } from 'objection';
import { GuardedStore } from './guarded-store.js';
import { makeKeySpace, versionKey, type KeySpace } from './keys.js';
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './options.js';
import { registerTable } from './table-registry.js';

/** The static properties a cached model may set; each overrides the mixin's options. */
export interface CacheStatics {
  cacheKeys?: readonly string[];
  cacheTtl?: number;
  cacheMissTtl?: number;
  cacheVersion?: string | number;
  /** Serve plain key lookups (`findById`, `findOne` on a cache key) from the natural-key cache. */
  cacheQueries?: boolean;
  /** Read through `storeOverride` below: the mixin's accessor answers the settled store. */
  cacheStore?: Keyv;
}

/** A model class as the cache sees it: Objection's statics plus ours. */
export type CachedClass = typeof Model & CacheStatics & { readonly cacheMixinOptions: CacheOptions };

/** The table of any model class, as Objection resolves it (`tableName` may be a getter). */
export function tableOf(modelClass: typeof Model): string {
  return (modelClass as unknown as { getTableName(): string }).getTableName();
}

/** True for classes made by `CachedModel()` and their subclasses. */
export function isCachedClass(modelClass: unknown): modelClass is CachedClass {
  return typeof modelClass === 'function' && 'cacheMixinOptions' in modelClass;
}

/** Everything the read and write paths need to know about one model class, settled once. */
export interface ModelCache {
  readonly space: KeySpace;
  readonly prefix: string;
  /** The table's version token: every write to the table deletes it (see keys.ts `versionKey`). */
  readonly versionKey: string;
  readonly idColumn: string;
  /** The id column first, then `cacheKeys`: every column a row is cached under. */
  readonly keyColumns: readonly string[];
  /** The column `get()` and `getMany()` look up: the first of `cacheKeys`, else the id column. */
  readonly primaryColumn: string;
  readonly ttl: number;
  readonly missTtl: number;
  /** Lifetime of guard and generation tokens: they must outlive the entries stamped with them. */
  readonly tokenTtl: number;
  readonly store: GuardedStore;
}

interface Memo {
  readonly inputs: readonly unknown[];
  readonly cache: ModelCache;
}

const memos = new WeakMap<object, Memo>();

/**
 * The settled cache settings of `modelClass`. Static properties are read through the prototype chain, so
 * `bindKnex()` subclasses share their parent's settings and entries. The result is reused while none of its
 * inputs changed, so a test that swaps `cacheStore` between runs sees the new store.
 */
export function modelCache(modelClass: CachedClass): ModelCache {
  const options = resolveOptions(modelClass.cacheMixinOptions, {
    store: storeOverride(modelClass),
    ttl: modelClass.cacheTtl,
    missTtl: modelClass.cacheMissTtl,
  });
  const inputs = [
    modelClass.tableName,
    modelClass.idColumn,
    modelClass.cacheKeys,
    modelClass.cacheVersion,
    options.store,
    options.ttl,
    options.missTtl,
    options.prefix,
    options.timeout,
    options.onError,
  ];
  const memo = memos.get(modelClass);
  if (memo && memo.inputs.every((input, i) => input === inputs[i])) return memo.cache;
  const cache = build(modelClass, options);
  memos.set(modelClass, { inputs, cache });
  return cache;
}

/**
 * The store a model class (or a parent) set as its own `cacheStore`: a data property, made by a `static
 * cacheStore = …` field or by assigning it. The mixin's `cacheStore` accessor answers the settled store
 * otherwise, so reading the property here would recurse.
 */
function storeOverride(modelClass: CachedClass): Keyv | undefined {
  for (let current: object | null = modelClass; current && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    const descriptor = Object.getOwnPropertyDescriptor(current, 'cacheStore');
    if (descriptor && 'value' in descriptor && descriptor.value !== undefined) return descriptor.value as Keyv;
  }
  return undefined;
}

function build(modelClass: CachedClass, options: ResolvedOptions): ModelCache {
  const name = modelClass.name || 'Model';
  const table = modelClass.tableName;
  if (typeof table !== 'string' || table === '') {
    throw new TypeError(`${name}: a cached model needs a static tableName`);
  }
  const idColumn = modelClass.idColumn;
  if (typeof idColumn !== 'string') {
    throw new TypeError(`${name}: objection-cache supports a single id column, got ${JSON.stringify(idColumn)}`);
  }
  const declared = modelClass.cacheKeys ?? [];
  if (!Array.isArray(declared) || declared.some((column) => typeof column !== 'string' || column === '')) {
    throw new TypeError(`${name}.cacheKeys must be an array of column names, got ${JSON.stringify(declared)}`);
  }
  const keyColumns = [...new Set([idColumn, ...declared])];
  const space = makeKeySpace(name, options.prefix, table, modelClass.cacheVersion ?? 1);
  const cache: ModelCache = {
    space,
    prefix: options.prefix,
    versionKey: versionKey(space.tag),
    idColumn,
    keyColumns,
    primaryColumn: declared[0] ?? idColumn,
    ttl: options.ttl,
    missTtl: options.missTtl,
    tokenTtl: tokenTtlFor(options),
    store: new GuardedStore(options.store, options.timeout, options.onError, name),
  };
  registerTable(cache, table);
  return cache;
}

/** Guard and generation tokens live twice the longer of `ttl` and `missTtl`, or forever when either does. */
export function tokenTtlFor({ ttl, missTtl }: { readonly ttl: number; readonly missTtl: number }): number {
  return ttl === 0 || missTtl === 0 ? 0 : 2 * Math.max(ttl, missTtl);
}

/** Throws unless `column` is one the model is cached under; the message lists the allowed ones. */
export function assertKeyColumn(cache: ModelCache, column: unknown): asserts column is string {
  if (typeof column !== 'string' || !cache.keyColumns.includes(column)) {
    throw new TypeError(
      `${cache.space.modelName}: ${JSON.stringify(column)} is not a cache key; cached columns are ${cache.keyColumns.map((c) => JSON.stringify(c)).join(', ')}`,
    );
  }
}
