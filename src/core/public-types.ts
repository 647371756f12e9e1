import type { Knex } from 'knex';
import type Keyv from 'keyv';
import type { Model, Page, QueryBuilder, TransactionOrKnex } from 'objection';

/**
 * Every type the package exports, declared once, at the bottom of the layers so that any module can name them
 * (index.ts re-exports them). Code lives elsewhere; this file holds declarations only.
 */

/** A value a natural-key lookup accepts. */
export type KeyValue = string | number | bigint;

/**
 * A key a lookup accepts: a value, or for a composite key (`cacheKeys = [['tenantId', 'slug']]`, a composite
 * `idColumn`) its parts, as an array in the declared order or an object holding each part by property.
 */
export type CacheKey = KeyValue | readonly KeyValue[] | { readonly [property: string]: KeyValue };

/** The key a lookup names: a column (property or DB name), or the columns of a composite key as declared. */
export type KeyColumns = string | readonly string[];

/**
 * Which database a cache entry belongs to. Every key the cache writes carries the scope of the knex the data was
 * read from (or written through), so two tenants' databases never share an entry, while two knex instances on
 * one database (two processes, a reader and a writer pool) share entries and flush each other.
 *
 * An app names the scope itself where the connection settings cannot tell databases apart (a pooler in front of
 * several databases, row-level security per user): a fixed name, or a function of the knex or transaction a
 * query runs on, called once per knex instance.
 */
export type CacheScope = string | ((knex: Knex) => string);

/** What went wrong in the cache layer; passed to `onError`. The DB result is never affected by it. */
export interface CacheErrorContext {
  /**
   * The store operation that failed or timed out: `getMany`, `setMany`, `deleteMany`, `delete`, or `store` for
   * errors a Keyv emitted; or `afterUpdate` when the keys a write changed could not be read back (the model was
   * flushed whole instead).
   */
  readonly operation: string;
  /** Model name where known. */
  readonly model?: string;
}

export type CacheErrorHandler = (error: unknown, context: CacheErrorContext) => void;

export interface CacheOptions {
  /** The Keyv the entries live in. Default: one in-memory Keyv shared by every model, at most 100,000 entries. */
  store?: Keyv;
  /** Lifetime of a cached row, in milliseconds (as Keyv); 0 keeps it until flushed. Default 1 hour. */
  ttl?: number;
  /** Lifetime of a cached miss, in milliseconds. Default 5 minutes. */
  missTtl?: number;
  /** Start of every key, to keep apps that share a store apart. Default `oc`. */
  prefix?: string;
  /** How long one store call may take before the cache is bypassed for it, in milliseconds. Default 1000. */
  timeout?: number;
  /** Receives every store failure. Default: a `console.warn` line per failure. */
  onError?: CacheErrorHandler;
  /**
   * The database scope of entries, where the connection settings cannot tell databases apart: a name, or a
   * function of the knex (or transaction) a query runs on, called once per knex instance. Default: derived from
   * the knex's client and the settings that select the data (host, port, database, SQLite file, `searchPath`).
   */
  scope?: CacheScope;
  /** Re-read a sample of hits from the database, off the request path, and report any that differ (`stale`). */
  verify?: CacheVerifyOptions;
  /**
   * With a Redis store (`@keyv/redis`), keep hot entries in this process too, invalidated by Redis (see
   * `LocalCacheOptions`). Ignored on a store in this process's memory (it is local already); refused on stores
   * that cannot tell this process what changed. Models sharing a Keyv share one local tier (same options).
   */
  localCache?: LocalCacheOptions;
  /**
   * Keep a row (or cached miss) this many ms past its `ttl`, served only when the database read fails (or takes
   * longer than `graceTimeout`), and only while no write has flushed it. Default 0: off.
   */
  grace?: number;
  /** With `grace`: how long a lookup waits for the database before answering from an entry in grace, in ms. Default 0: only a failed read does. */
  graceTimeout?: number;
}

/** The live consistency check: `verify: { sampleRate: 0.01 }` re-reads one hit in a hundred. */
/**
 * The local tier (`localCache`): hot entries kept in this process in front of a Redis store, dropped when Redis
 * says they changed (server-assisted client-side caching, `CLIENT TRACKING`), when this process writes them,
 * and all at once whenever an invalidation may have been missed.
 */
export interface LocalCacheOptions {
  /** At most this many keys (entries and the tokens that stamp them) kept in this process. */
  readonly maxEntries: number;
  /** How long (ms, > 0) a key is kept after the read that brought it, invalidated or not. */
  readonly ttl: number;
}

export interface CacheVerifyOptions {
  /** The share of row hits re-read from the database, from 0 to 1. */
  readonly sampleRate: number;
  /**
   * How long a difference must last before it is reported, in ms (default 1000): a write racing the check gets
   * that long to flush. A flush made by this process meanwhile always counts, however long it takes.
   */
  readonly delay?: number;
}

/** The static properties a cached model may set; each overrides the mixin's options. */
export interface CacheStatics {
  /**
   * Unique columns rows are cached under; `get()` uses the first. The id column always is one. An array of
   * columns is a composite key (`[['tenantId', 'slug'], 'uuid']`), looked up by tuples.
   */
  cacheKeys?: readonly (string | readonly string[])[];
  /**
   * Non-unique columns (or lists of them) whose rows `getAllBy` reads as cached lists: per value, the ids of its
   * rows (the rows themselves through the row cache), flushed only when a write changes who is in the list.
   */
  cacheIndexes?: readonly (string | readonly string[])[];
  /** Lifetime of a cached row in ms; overrides the mixin's `ttl`. */
  cacheTtl?: number;
  /** Lifetime of a cached miss in ms; overrides the mixin's `missTtl`. */
  cacheMissTtl?: number;
  /** Part of every key: bump it when the shape of cached rows changes (a migration). */
  cacheVersion?: string | number;
  /** Serve plain key lookups (`findById`, `findOne` on a cache key) from the natural-key cache. */
  cacheQueries?: boolean;
  /** Tables a write to this model's table also changes, out of the cache's sight (triggers, ON DELETE CASCADE). */
  cacheCascades?: readonly string[];
  /** The Keyv this model's entries live in (set it to give the model a store of its own). */
  cacheStore?: Keyv;
  /** Which database the model's entries belong to, where the connection settings cannot tell (see `scope`). */
  cacheScope?: CacheScope;
}

type Constructor<M> = new () => M;

/** The statics `CachedModel()` adds to a model class. */
export interface CachedModelStatics extends CacheStatics {
  /** Read, it answers the settled store: the model's own, the mixin's, the configured one or the default. */
  cacheStore: Keyv;
  /** The options given to `CachedModel()`. */
  readonly cacheMixinOptions: CacheOptions;
  get<M extends Model>(this: Constructor<M>, key: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined>;
  getById<M extends Model>(this: Constructor<M>, id: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined>;
  getBy<M extends Model>(this: Constructor<M>, column: KeyColumns, value: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined>;
  getMany<M extends Model>(this: Constructor<M>, keys: readonly CacheKey[], trx?: TransactionOrKnex): Promise<(M | undefined)[]>;
  getManyBy<M extends Model>(this: Constructor<M>, column: KeyColumns, values: readonly CacheKey[], trx?: TransactionOrKnex): Promise<(M | undefined)[]>;
  getAllBy<M extends Model>(this: Constructor<M>, index: KeyColumns, value: CacheKey, trx?: TransactionOrKnex): Promise<M[]>;
  getAllByMany<M extends Model>(this: Constructor<M>, index: KeyColumns, values: readonly CacheKey[], trx?: TransactionOrKnex): Promise<M[][]>;
  flush(rows: object | readonly object[]): Promise<void>;
  flushAll(): Promise<void>;
  flushTables(...tables: string[]): Promise<void>;
}

/** The instance methods `CachedModel()` adds. */
export interface CachedModelInstance extends Model {
  /** Objection reads a model's query builder type from here: `Post.query()` has `cache()`. */
  QueryBuilderType: CachedQueryBuilder<this>;
  save(trx?: TransactionOrKnex): Promise<this>;
  delete(trx?: TransactionOrKnex): Promise<number>;
}

/** What `CachedModel(Base)` returns: Base's statics and instances, plus the cache's. */
export type CachedModelClass<B extends typeof Model> = Omit<B, 'prototype'> &
  CachedModelStatics & {
    new (): InstanceType<B> & CachedModelInstance;
    prototype: InstanceType<B> & CachedModelInstance;
  };

/** The query builder of cached models: Objection's (or the base model's own), plus `cache()`. */
export interface CachedQueryBuilder<M extends Model, R = M[]> extends QueryBuilder<M, R> {
  ArrayQueryBuilderType: CachedQueryBuilder<M, M[]>;
  SingleQueryBuilderType: CachedQueryBuilder<M, M>;
  MaybeSingleQueryBuilderType: CachedQueryBuilder<M, M | undefined>;
  NumberQueryBuilderType: CachedQueryBuilder<M, number>;
  PageQueryBuilderType: CachedQueryBuilder<M, Page<M>>;
  /**
   * Serves this query from the cache: the rows of each SQL statement it runs (its own, and those of
   * `withGraphFetched` relations on cached models) are cached under the statement and its bindings, and
   * dropped by any write to a table the statement reads. Inside a transaction the query runs uncached.
   */
  cache(options?: QueryCacheOptions): this;
}

/** Options of `query().cache()`. */
export interface QueryCacheOptions {
  /** Lifetime of the cached rows in ms; 0 keeps them until a write invalidates them. Default: the model's `ttl`. */
  readonly ttl?: number;
  /**
   * Tables the query reads that its SQL does not show (named inside `raw()` SQL): cached model classes or table
   * names. Their writes invalidate the result too.
   */
  readonly dependsOn?: readonly (typeof Model | string)[];
}

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

/** The events on `cacheEvents` and on the diagnostics channels `objection-cache:<name>`. */
export type CacheEventName = 'hit' | 'miss' | 'fill' | 'flush' | 'error' | 'breaker' | 'stale' | 'grace';

/** What a read was for: a row by key, a cached query's rows, or a `cached()` value. */
export type CacheEventKind = 'row' | 'query' | 'value';

/** What every event says. */
export interface CacheEventBase {
  /** The model class (`cached` for a `cached()` value with no model dependency). */
  readonly model: string;
  /** The model's table ('' where there is none). */
  readonly table: string;
  /**
   * What ran: `get`, `getById`, `getBy`, `getMany`, `getManyBy`, `relation` (a relation or eager load of a cached
   * model), `query` (a `cacheQueries` key lookup), `query().cache()`, `resultSize`, `cached`; for flushes and errors
   * the store call (`deleteMany`, `delete`, `getMany`, `setMany`, `store`, `listener`...).
   */
  readonly operation: string;
}

/** One requested key (or query, or value) served from the cache. */
export interface CacheHitEvent extends CacheEventBase {
  readonly kind: CacheEventKind;
  /** False for a cached miss: the cache knew there is no such row. */
  readonly found: boolean;
  /** Rows: the key column (a model property). */
  readonly column?: string;
  /** Rows: the requested value; `cached()`: the app's key. */
  readonly key?: string | number | bigint;
  /** The caller shared a read another caller started (single flight). */
  readonly joined: boolean;
  /** Milliseconds of the store read (0 for the in-process default store). */
  readonly duration: number;
}

/** One requested key (or query, or value) that went to the database (or was computed). */
export interface CacheMissEvent extends CacheEventBase {
  readonly kind: CacheEventKind;
  readonly column?: string;
  readonly key?: string | number | bigint;
  readonly joined: boolean;
  /** Milliseconds of the DB read (or the computation) this caller waited for. */
  readonly duration: number;
}

/** Entries written to the store after a read: one event per store write. */
export interface CacheFillEvent extends CacheEventBase {
  readonly kind: CacheEventKind;
  readonly entries: number;
  readonly duration: number;
}

/** One store deletion (a write's flush, a flushAll, a delivery of pending flushes). */
export interface CacheFlushEvent extends CacheEventBase {
  readonly keys: number;
  /** False when the store could not be reached: the keys are pending and will be sent again. */
  readonly delivered: boolean;
  readonly duration: number;
}

/** A failure the cache stepped around (the same that `onError` receives). */
export interface CacheErrorEvent extends CacheEventBase {
  readonly error: unknown;
}

/** The store's circuit breaker opened (calls go to the DB at once) or closed again. */
export interface CacheBreakerEvent extends CacheEventBase {
  readonly state: 'open' | 'closed';
}

/** A sampled hit (`verify`) that differs from the database, while its guard still stands: the cache is stale. */
export interface CacheStaleEvent extends CacheEventBase {
  readonly kind: 'row';
  readonly column: string;
  readonly key: string | number | bigint;
  /** The row the cache served (as the database gave it then), or null for a cached miss. */
  readonly cached: Record<string, unknown> | null;
  /** The row in the database now, or null where there is none. */
  readonly database: Record<string, unknown> | null;
}

/** A row (or miss) past its `ttl` served because the database read failed or was slow (`grace`). */
export interface CacheGraceEvent extends CacheEventBase {
  readonly kind: 'row';
  readonly column: string;
  readonly key: string | number | bigint;
  readonly found: boolean;
  /** `error`: the database read failed; `timeout`: it took longer than `graceTimeout`. */
  readonly reason: 'error' | 'timeout';
  /** How long past its `ttl` the row was, in ms. */
  readonly age: number;
  /** The database's error, for `error`. */
  readonly error?: unknown;
}

export interface CacheEventMap {
  hit: CacheHitEvent;
  miss: CacheMissEvent;
  fill: CacheFillEvent;
  flush: CacheFlushEvent;
  error: CacheErrorEvent;
  breaker: CacheBreakerEvent;
  stale: CacheStaleEvent;
  grace: CacheGraceEvent;
}
