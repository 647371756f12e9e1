import type { Knex } from 'knex';
import type Keyv from 'keyv';
import type { Model } from 'objection';
import { tableNameOf } from '../core/internals.js';
import { assertPrefix, compositeName, generationKey, indexOfList, isComposite, makeKeySpace, tableKeys, tableTokenKey, type KeySpace } from '../core/keys.js';
import type { CacheOptions, CacheScope, CacheStatics, CacheVerifyOptions } from '../core/public-types.js';
import { GuardedStore } from '../store/guarded-store.js';
import type { CatalogTable } from '../store/table-catalog.js';
import { defaultsRevision, resolveOptions, type ResolvedOptions } from './options.js';

/** A model class as the cache sees it: Objection's statics plus ours. */
export type CachedClass = typeof Model & CacheStatics & { readonly cacheMixinOptions: CacheOptions };

/** The table of any model class, as Objection resolves it (`tableName` may be a getter). */
export function tableOf(modelClass: typeof Model): string {
  return tableNameOf(modelClass);
}

/** True for classes made by `CachedModel()` and their subclasses. */
export function isCachedClass(modelClass: unknown): modelClass is CachedClass {
  return typeof modelClass === 'function' && 'cacheMixinOptions' in modelClass;
}

/** What the cache knows of one model class whatever database it reads: settled once. */
export interface ModelSettings {
  readonly modelName: string;
  readonly table: string;
  readonly prefix: string;
  readonly scope: CacheScope | undefined;
  /** `cacheCascades`: tables whose entries every write of the model flushes whole. */
  readonly cascades: readonly string[];
  /** `cacheVersion`: part of every entry's key. */
  readonly cacheVersion: string | number;
  /** The id columns as the DB names them (Objection's `idColumn`: one, or several for a composite id). */
  readonly idColumns: readonly string[];
  /** The id as the model names it: the same, unless `columnNameMappers` map it (a composite id's parts joined with `+`, core/keys.ts). */
  readonly idProperty: string;
  /**
   * The id first, then `cacheKeys`: every key a row is cached under, as model properties (`cacheKeys` may name
   * properties or columns; with `columnNameMappers` the two differ, and the cache keeps properties). A composite
   * key is one name, its parts joined with `+` (core/keys.ts `compositeName`).
   */
  readonly keyColumns: readonly string[];
  /**
   * `cacheIndexes`: columns (or lists of them) whose rows are cached as lists of ids per value (`getAllBy`), named
   * like `keyColumns`.
   */
  readonly indexColumns: readonly string[];
  /** The single-column keys of `keyColumns` as the DB names them (`columnOf` of each), for matching SQL. */
  readonly keyColumnNames: readonly string[];
  /** The key `get()` and `getMany()` look up: the first of `cacheKeys`, else the id. */
  readonly primaryColumn: string;
  /** The DB column of a key property, for SQL. */
  columnOf(property: string): string;
  /** The key property a name stands for, given as a property or as a column. */
  propertyOf(name: string): string;
  /** The key a column, or a list of them (a composite key), stands for: its name in `keyColumns`. */
  keyOf(columns: string | readonly string[]): string;
  readonly ttl: number;
  readonly missTtl: number;
  /** Lifetime of guard and generation tokens: they must outlive the entries stamped with them. */
  readonly tokenTtl: number;
  readonly store: GuardedStore;
  /** How long an entry is kept past its ttl for a failing database (`grace`), and how long a read may take first. */
  readonly grace: number;
  readonly graceTimeout: number;
  /** The consistency check (`verify` option), or undefined when off. */
  readonly verify: Required<CacheVerifyOptions> | undefined;
  /** The model's table in its store's catalog: `keyColumns` there are what a write to the table flushes. */
  readonly catalog: CatalogTable;
}

/** A model's settings in the scope of one database: where its keys live there. */
export interface ModelCache extends ModelSettings {
  readonly space: KeySpace;
  /** The table's token: every write to the table in this database deletes it (see core/keys.ts `tableTokenKey`). */
  readonly tableTokenKey: string;
  /** The model's generation token here (keys.ts `generationKey`): built once, so a hit builds two keys, not three. */
  readonly generationKey: string;
  /** The generation and table tokens of `cacheCascades` here: every write of the model flushes them too. */
  readonly cascadeKeys: readonly string[];
}

interface Memo {
  /** What the options were resolved from: the statics, the mixin's options and the defaults' revision. */
  readonly given: Given;
  readonly inputs: readonly unknown[];
  readonly settings: ModelSettings;
}

const memos = new WeakMap<object, Memo>();

/**
 * The settled cache settings of `modelClass`. Static properties are read through the prototype chain, so
 * `bindKnex()` subclasses share their parent's settings and entries. The result is reused while none of its
 * inputs changed, so a test that swaps `cacheStore` between runs sees the new store.
 */
export function modelSettings(modelClass: CachedClass): ModelSettings {
  return memoOf(modelClass).settings;
}

const byScope = new WeakMap<ModelSettings, Map<string, ModelCache>>();

/** `settings` in the database scope named `scope` (config/scope.ts): made once per scope, shared by its knexes. */
export function settingsInScope(settings: ModelSettings, scope: string): ModelCache {
  let caches = byScope.get(settings);
  if (!caches) byScope.set(settings, (caches = new Map()));
  let cache = caches.get(scope);
  if (!cache) {
    const space = makeKeySpace(settings.modelName, settings.prefix, scope, settings.table, settings.cacheVersion);
    cache = {
      ...settings,
      space,
      tableTokenKey: tableTokenKey(space.tag),
      generationKey: generationKey(space),
      cascadeKeys: tableKeys(settings.prefix, scope, settings.cascades),
    };
    caches.set(scope, cache);
  }
  return cache;
}

/**
 * The knex a class reads through when the caller gives none: the one bound to it (`bindKnex`, `knex(...)`,
 * `transaction(Model, cb)`) or to a parent. Throws before any I/O where there is none, as Objection's queries do.
 */
export function boundKnex(modelClass: CachedClass, given?: Knex | null): Knex {
  const knex = given ?? (modelClass.knex() as Knex | undefined);
  if (!knex) {
    throw new TypeError(
      `${modelClass.name}: no database connection available for the cache. Bind the model class (Model.knex(knex), bindKnex(knex)) or pass a knex`,
    );
  }
  return knex;
}

function memoOf(modelClass: CachedClass): Memo {
  // Every lookup asks: answer from what the options were resolved from, before resolving them again.
  const store = storeOverride(modelClass);
  const known = memos.get(modelClass);
  if (known && known.given.holds(modelClass, store)) return known;
  const given = new Given(modelClass, store);
  const options = resolveOptions(given.mixinOptions, { store, ttl: given.ttl, missTtl: given.missTtl, scope: given.scope });
  const inputs = [
    ...given.statics(),
    options.store,
    options.ttl,
    options.missTtl,
    options.prefix,
    options.timeout,
    options.onError,
    options.scope,
    options.verify,
    options.grace,
    options.graceTimeout,
    options.localCache,
  ];
  if (known && known.inputs.every((input, i) => input === inputs[i])) {
    const same: Memo = { given, inputs, settings: known.settings };
    memos.set(modelClass, same);
    return same;
  }
  const fresh: Memo = { given, inputs, settings: build(modelClass, options) };
  memos.set(modelClass, fresh);
  return fresh;
}

/**
 * What a memo's settings are made from: what the options are resolved from (the mixin's options, the class's own
 * store, its statics and the defaults' revision), then the statics the settings take as they are. Read and
 * compared field by field, in one place: a list of readers called in a loop was a measurable part of a hit.
 */
class Given {
  readonly mixinOptions: CacheOptions;
  readonly store: Keyv | undefined;
  readonly ttl: number | undefined;
  readonly missTtl: number | undefined;
  readonly scope: CacheScope | undefined;
  readonly defaults: number;
  readonly tableName: unknown;
  readonly idColumn: unknown;
  readonly cacheKeys: unknown;
  readonly cacheIndexes: unknown;
  readonly cacheVersion: unknown;
  readonly cacheCascades: unknown;

  constructor(modelClass: CachedClass, store: Keyv | undefined) {
    this.mixinOptions = modelClass.cacheMixinOptions;
    this.store = store;
    this.ttl = modelClass.cacheTtl;
    this.missTtl = modelClass.cacheMissTtl;
    this.scope = modelClass.cacheScope;
    this.defaults = defaultsRevision();
    this.tableName = modelClass.tableName;
    this.idColumn = modelClass.idColumn;
    this.cacheKeys = modelClass.cacheKeys;
    this.cacheIndexes = modelClass.cacheIndexes;
    this.cacheVersion = modelClass.cacheVersion;
    this.cacheCascades = modelClass.cacheCascades;
  }

  /** True while `modelClass` still has all of these (each field as the constructor reads it). */
  holds(modelClass: CachedClass, store: Keyv | undefined): boolean {
    return (
      this.store === store &&
      this.mixinOptions === modelClass.cacheMixinOptions &&
      this.ttl === modelClass.cacheTtl &&
      this.missTtl === modelClass.cacheMissTtl &&
      this.scope === modelClass.cacheScope &&
      this.defaults === defaultsRevision() &&
      this.tableName === modelClass.tableName &&
      this.idColumn === modelClass.idColumn &&
      this.cacheKeys === modelClass.cacheKeys &&
      this.cacheIndexes === modelClass.cacheIndexes &&
      this.cacheVersion === modelClass.cacheVersion &&
      this.cacheCascades === modelClass.cacheCascades
    );
  }

  /** The statics the settings take as they are: two memos with the same ones (and options) share settings. */
  statics(): unknown[] {
    return [this.tableName, this.idColumn, this.cacheKeys, this.cacheIndexes, this.cacheVersion, this.cacheCascades];
  }
}

/** Mixin classes whose own `cacheStore` is still the mixin's accessor (model/cached-model.ts). */
const accessorHolders = new WeakSet<object>();

/** `mixin` defines the `cacheStore` accessor (`CachedModel` calls this for the class it makes). */
export function holdsStoreAccessor(mixin: object): void {
  accessorHolders.add(mixin);
}

/** `cacheStore` was assigned on `modelClass`: if it held the accessor, its own property is now a store, or none. */
export function storeAccessorReplaced(modelClass: object): void {
  accessorHolders.delete(modelClass);
}

/** Set while `storeOverride` reads `cacheStore`: the mixin's accessor then answers `NO_OVERRIDE` (`mixinStore`). */
let readingOverride = false;
const NO_OVERRIDE: unique symbol = Symbol('objection-cache: no cacheStore set in front of the mixin');

/**
 * What the mixin's `cacheStore` accessor answers: the model's settled store; while `storeOverride` reads the
 * property, that no class in front of the accessor set one.
 */
export function mixinStore(modelClass: CachedClass): Keyv {
  return readingOverride ? (NO_OVERRIDE as unknown as Keyv) : modelSettings(modelClass).store.keyv;
}

/**
 * The store a model class (or a parent in front of the mixin) set as its own `cacheStore`: a data property, made
 * by a `static cacheStore = …` field or by assigning it. Every lookup asks, so the common case (none) is one
 * property read, which reaches the mixin's accessor: walking the prototype chain for own properties was a
 * measurable part of a hit.
 */
function storeOverride(modelClass: CachedClass): Keyv | undefined {
  // restored, not cleared: a getter of the app's in front of the accessor may look up a model meanwhile
  const reading = readingOverride;
  readingOverride = true;
  let found: unknown;
  try {
    found = modelClass.cacheStore;
  } finally {
    readingOverride = reading;
  }
  return found === NO_OVERRIDE ? undefined : storeInFront(modelClass);
}

/** The first store held as a data property on the way from `modelClass` to the mixin's accessor (a getter is none). */
function storeInFront(modelClass: CachedClass): Keyv | undefined {
  for (let current: object | null = modelClass; current && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    if (accessorHolders.has(current)) return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(current, 'cacheStore');
    if (descriptor && 'value' in descriptor && descriptor.value !== undefined) return descriptor.value as Keyv;
  }
  return undefined;
}

function build(modelClass: CachedClass, options: ResolvedOptions): ModelSettings {
  const { name, table, idColumns, declaredKeys, declaredIndexes, cascades } = checkStatics(modelClass, options);
  // Objection's name mappers (`columnNameMappers`, e.g. snakeCaseMappers()): the cache keeps properties, SQL gets
  // columns. Without mappers both are the same name.
  const columnOf = (property: string): string => modelClass.propertyNameToColumnName(property);
  const propertyOf = (given: string): string => (columnOf(given) !== given ? given : modelClass.columnNameToPropertyName(given));
  const keyOf = (columns: string | readonly string[]): string => compositeName((typeof columns === 'string' ? [columns] : columns).map(propertyOf));
  const idProperty = keyOf(idColumns);
  const keys = declaredKeys.map(keyOf);
  const keyColumns = [...new Set([idProperty, ...keys])];
  const indexColumns = [...new Set(declaredIndexes.map(keyOf))];
  const store = new GuardedStore(options.store, options.timeout, options.onError, name, table, options.localCache);
  const catalog = store.state.tables.register(options.prefix, table, modelClass, cascades);
  catalog.addKeyColumns(keyColumns);
  catalog.addIndexColumns(indexColumns);
  return {
    modelName: name,
    cascades,
    table,
    prefix: options.prefix,
    scope: options.scope,
    cacheVersion: modelClass.cacheVersion ?? 1,
    idColumns,
    idProperty,
    keyColumns,
    indexColumns,
    primaryColumn: keys[0] ?? idProperty,
    keyColumnNames: keyColumns.filter((key) => !isComposite(key)).map(columnOf),
    columnOf,
    propertyOf,
    keyOf,
    ttl: options.ttl,
    missTtl: options.missTtl,
    tokenTtl: tokenTtlFor(options),
    store,
    catalog,
    verify: options.verify,
    grace: options.grace,
    graceTimeout: options.graceTimeout,
  };
}

/** The statics and options a model's settings are made of, checked: a TypeError names the model and the setting. */
function checkStatics(modelClass: CachedClass, options: ResolvedOptions) {
  const name = modelClass.name || 'Model';
  const table = modelClass.tableName;
  if (typeof table !== 'string' || table === '') {
    throw new TypeError(`${name}: a cached model needs a static tableName`);
  }
  const idColumn: unknown = modelClass.idColumn;
  const idColumns = typeof idColumn === 'string' ? [idColumn] : idColumn;
  if (!isColumnList(idColumns)) {
    throw new TypeError(`${name}.idColumn must be a column name or an array of them, got ${JSON.stringify(idColumn)}`);
  }
  const declaredKeys: unknown = modelClass.cacheKeys ?? [];
  if (!Array.isArray(declaredKeys) || !declaredKeys.every((key: unknown) => (typeof key === 'string' ? isColumnList([key]) : isColumnList(key)))) {
    throw new TypeError(`${name}.cacheKeys must be an array of column names, or of arrays of them for composite keys, got ${JSON.stringify(declaredKeys)}`);
  }
  const declaredIndexes: unknown = modelClass.cacheIndexes ?? [];
  if (
    !Array.isArray(declaredIndexes) ||
    !declaredIndexes.every((index: unknown) => (typeof index === 'string' ? isColumnList([index]) : isColumnList(index)))
  ) {
    throw new TypeError(
      `${name}.cacheIndexes must be an array of column names, or of arrays of them for composite indexes, got ${JSON.stringify(declaredIndexes)}`,
    );
  }
  assertPrefix(name, options.prefix);
  const scope = options.scope;
  if (scope !== undefined && !(typeof scope === 'function' || (typeof scope === 'string' && scope !== ''))) {
    throw new TypeError(`${name}: the cache scope must be a non-empty string or a function of the knex, got ${JSON.stringify(scope)}`);
  }
  const cascades = modelClass.cacheCascades ?? [];
  if (!Array.isArray(cascades) || cascades.some((table) => typeof table !== 'string' || table === '')) {
    throw new TypeError(`${name}.cacheCascades must be an array of table names, got ${JSON.stringify(cascades)}`);
  }
  return {
    name,
    table,
    idColumns,
    declaredKeys: declaredKeys as readonly (string | readonly string[])[],
    declaredIndexes: declaredIndexes as readonly (string | readonly string[])[],
    cascades: cascades as readonly string[],
  };
}

/**
 * A non-empty array of distinct, non-empty column names holding no `+` (which joins a composite key's parts) and
 * not ending with `[]` (which names a list).
 */
function isColumnList(columns: unknown): columns is readonly string[] {
  return (
    Array.isArray(columns) &&
    columns.length > 0 &&
    new Set(columns).size === columns.length &&
    columns.every((column: unknown) => typeof column === 'string' && column !== '' && !isComposite(column) && indexOfList(column) === column)
  );
}

/** Throws unless `index` is one of the model's `cacheIndexes`; the message lists them. */
export function assertIndexColumn(cache: ModelSettings, index: unknown): asserts index is string {
  if (typeof index !== 'string' || !cache.indexColumns.includes(index)) {
    const known = cache.indexColumns.map((c) => JSON.stringify(c)).join(', ') || 'none (declare static cacheIndexes)';
    throw new TypeError(`${cache.modelName}: ${JSON.stringify(index)} is not a cached index; cached indexes are ${known}`);
  }
}

/**
 * Guard and generation tokens live twice the longer of `ttl` and `missTtl` (plus `grace`, which entries are kept
 * beyond them), or forever when either does.
 */
export function tokenTtlFor({ ttl, missTtl, grace = 0 }: { readonly ttl: number; readonly missTtl: number; readonly grace?: number }): number {
  return ttl === 0 || missTtl === 0 ? 0 : 2 * (Math.max(ttl, missTtl) + grace);
}

/** Throws unless `column` is one the model is cached under; the message lists the allowed ones. */
export function assertKeyColumn(cache: ModelSettings, column: unknown): asserts column is string {
  if (typeof column !== 'string' || !cache.keyColumns.includes(column)) {
    throw new TypeError(
      `${cache.modelName}: ${JSON.stringify(column)} is not a cache key; cached columns are ${cache.keyColumns.map((c) => JSON.stringify(c)).join(', ')}`,
    );
  }
}
