import type Keyv from 'keyv';
import type { Model, QueryBuilderType, Relation, StaticHookArguments, TransactionOrKnex } from 'objection';
import { flushModel, rowKeys } from '../invalidation/flush.js';
import type { CachedModelClass, CacheOptions, CacheScope, CacheKey, KeyColumns } from '../core/public-types.js';
import { assertArray, lookup, lookupOne } from './lookup.js';
import { lookupLists } from './list-lookup.js';
import { boundKnex, holdsStoreAccessor, mixinStore, storeAccessorReplaced, type CachedClass, type ModelSettings } from '../config/settings.js';
import { adoptQueryBuilder, cachedQueryBuilder } from './query-builder.js';
import { isTransaction } from '../config/scope.js';
import { tableTokenKeyIn } from '../core/keys.js';
import { inherited } from '../core/internals.js';
import { modelCache } from './model-cache.js';
import { keepJoinTableToken } from './table-dependencies.js';
import { flushAfterCommit } from '../invalidation/transaction-flush.js';
import * as hooks from './write-hooks.js';

type Constructor<M> = new () => M;
type HookArgs = StaticHookArguments<Model>;

const primaryColumn = (cache: ModelSettings) => cache.primaryColumn;
const idColumn = (cache: ModelSettings) => cache.idProperty;

/**
 * Adds cached natural-key lookups to an Objection model class:
 *
 *     class Post extends CachedModel(Model) {
 *       static tableName = 'posts';
 *       static cacheKeys = ['slug', 'name'];
 *     }
 *     const post = await Post.get('hello-world');
 *
 * Every write through Objection flushes the keys of the rows it touches (see write-hooks.ts). Subclasses that
 * define their own static `beforeInsert`, `afterInsert`, `beforeUpdate`, `afterUpdate`, `beforeDelete` or
 * `afterDelete` must call `super`.
 */
export function CachedModel<B extends typeof Model>(Base: B, options: CacheOptions = {}): CachedModelClass<B> {
  const Parent = Base as unknown as typeof Model;

  class Cached extends Parent {
    /** Unique columns rows are cached under; `get()` uses the first. The id column always is one. */
    static cacheKeys?: readonly string[];
    /** Lifetime of a cached row in ms; overrides the mixin's `ttl`. */
    static cacheTtl?: number;
    /** Lifetime of a cached miss in ms; overrides the mixin's `missTtl`. */
    static cacheMissTtl?: number;
    /** Part of every key: bump it when the shape of cached rows changes (a migration). */
    static cacheVersion?: string | number;
    /** Serve plain key lookups (`query().findById(id)`, `findOne({ slug })`) from the natural-key cache. */
    static cacheQueries?: boolean;
    /**
     * Tables a write to this model's table changes out of the cache's sight (a trigger, `ON DELETE CASCADE`): every
     * write of the model, through Objection or through knex, flushes their cached models and queries too.
     */
    static cacheCascades?: readonly string[];
    /** Which database the entries belong to, where the connection settings cannot tell; overrides the mixin's `scope`. */
    static cacheScope?: CacheScope;
    /** The options given to `CachedModel()`. */
    static readonly cacheMixinOptions: CacheOptions = options;

    static override QueryBuilder = cachedQueryBuilder(Parent.QueryBuilder);

    /** Every query (and `$query`, `$relatedQuery`, eager loading) starts here: see `adoptQueryBuilder`. */
    static override query<M extends Model>(this: Constructor<M>, trxOrKnex?: TransactionOrKnex): QueryBuilderType<M> {
      adoptQueryBuilder(this as unknown as typeof Model);
      const parent = Reflect.get(Parent, 'query') as (this: unknown, trxOrKnex?: TransactionOrKnex) => QueryBuilderType<M>;
      return parent.call(this, trxOrKnex);
    }

    /**
     * The Keyv this model's entries live in: the low-level API (`get`, `set`, `getMany`, `setMany`, `delete`,
     * `clear`). A subclass's `static cacheStore = …` (or an assignment) gives the model a store of its own.
     */
    static get cacheStore(): Keyv {
      return mixinStore(this as unknown as CachedClass);
    }

    static set cacheStore(store: Keyv | undefined) {
      // on the mixin class itself, this replaces its accessor (settings.ts must then read what it holds)
      storeAccessorReplaced(this);
      if (store === undefined) Reflect.deleteProperty(this, 'cacheStore');
      else Object.defineProperty(this, 'cacheStore', { value: store, writable: true, configurable: true, enumerable: true });
    }

    /** The row whose first cache key (or id, without `cacheKeys`) is `key`. */
    static get<M extends Model>(this: Constructor<M>, key: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined> {
      return lookupOne<M>(this as unknown as CachedClass, primaryColumn, key, trx, 'get');
    }

    /** The row with this id. */
    static getById<M extends Model>(this: Constructor<M>, id: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined> {
      return lookupOne<M>(this as unknown as CachedClass, idColumn, id, trx, 'getById');
    }

    /** The row whose `column` (a cache key or the id column; an array of columns for a composite key) is `value`. */
    static getBy<M extends Model>(this: Constructor<M>, column: KeyColumns, value: CacheKey, trx?: TransactionOrKnex): Promise<M | undefined> {
      return lookupOne<M>(this as unknown as CachedClass, column, value, trx, 'getBy');
    }

    /** The rows for `keys` of the first cache key, aligned with `keys`: one store read, at most one DB query. */
    static async getMany<M extends Model>(this: Constructor<M>, keys: readonly CacheKey[], trx?: TransactionOrKnex): Promise<(M | undefined)[]> {
      const modelClass = this as unknown as CachedClass;
      assertArray(modelClass, 'getMany', keys);
      return lookup<M>(modelClass, primaryColumn, keys, trx, 'getMany');
    }

    /** The rows for `values` of `column`, aligned with `values`: one store read, at most one DB query. */
    static async getManyBy<M extends Model>(
      this: Constructor<M>,
      column: KeyColumns,
      values: readonly CacheKey[],
      trx?: TransactionOrKnex,
    ): Promise<(M | undefined)[]> {
      const modelClass = this as unknown as CachedClass;
      assertArray(modelClass, 'getManyBy', values);
      return lookup<M>(modelClass, column, values, trx, 'getManyBy');
    }

    /**
     * The rows whose `index` (one of `cacheIndexes`; an array of columns for a composite one) is `value`, in id
     * order: a cached list of their ids, then the rows through the row cache.
     */
    static async getAllBy<M extends Model>(this: Constructor<M>, index: KeyColumns, value: CacheKey, trx?: TransactionOrKnex): Promise<M[]> {
      return (await lookupLists<M>(this as unknown as CachedClass, index, [value], trx, 'getAllBy'))[0]!;
    }

    /** `getAllBy` for many values, aligned with them: one store read and at most one DB query for the lists, the same for the rows. */
    static async getAllByMany<M extends Model>(this: Constructor<M>, index: KeyColumns, values: readonly CacheKey[], trx?: TransactionOrKnex): Promise<M[][]> {
      const modelClass = this as unknown as CachedClass;
      assertArray(modelClass, 'getAllByMany', values);
      return lookupLists<M>(modelClass, index, values, trx, 'getAllByMany');
    }

    /**
     * Flushes every cache key of the given rows (instances or plain objects holding the key columns), in one
     * store call. For writes made outside Objection, such as raw knex queries; pass old and new values. Flushes
     * in the database of the class's knex (`Post.bindKnex(tenant).flush(...)`); a class bound to a transaction
     * flushes after its outermost commit.
     */
    static async flush(rows: object | readonly object[]): Promise<void> {
      const list = Array.isArray(rows) ? rows : [rows];
      for (const row of list) {
        if (!row || typeof row !== 'object') throw new TypeError(`${this.name}.flush: expected a row object, got ${row === null ? 'null' : typeof row}`);
      }
      const knex = boundKnex(this as unknown as CachedClass);
      const cache = modelCache(this as unknown as CachedClass, knex);
      await flushAfterCommit(knex, cache.store, [...list.flatMap((row: object) => rowKeys(cache, row)), cache.tableTokenKey]);
    }

    /** Invalidates everything cached for this model's table in the database of its knex, in one store call. */
    static async flushAll(): Promise<void> {
      const knex = boundKnex(this as unknown as CachedClass);
      const cache = modelCache(this as unknown as CachedClass, knex);
      if (isTransaction(knex)) await flushAfterCommit(knex, cache.store, [cache.generationKey, cache.tableTokenKey]);
      else await flushModel(cache);
    }

    /**
     * Invalidates cached queries and `cached()` values that read `tables` (in this model's store, prefix and
     * database), for writes made outside Objection to tables without a cached model, such as a join table.
     */
    static async flushTables(...tables: string[]): Promise<void> {
      for (const table of tables) {
        if (typeof table !== 'string' || table === '') throw new TypeError(`${this.name}.flushTables: expected table names, got ${JSON.stringify(table)}`);
      }
      const knex = boundKnex(this as unknown as CachedClass);
      const cache = modelCache(this as unknown as CachedClass, knex);
      await flushAfterCommit(
        knex,
        cache.store,
        tables.map((table) => tableTokenKeyIn(cache.prefix, cache.space.scope, table)),
      );
    }

    /**
     * Every relation resolves through this (undocumented) Objection static: a many-to-many relation's join
     * table gets its token kept (table-dependencies.ts) before any query can use the relation.
     */
    static getRelationUnsafe(name: string): Relation | null {
      const parent = inherited<(this: unknown, name: string) => Relation | null>(Parent, 'getRelationUnsafe');
      const relation = parent.call(this, name);
      if (relation) keepJoinTableToken(this as unknown as CachedClass, relation);
      return relation;
    }

    static override async beforeInsert(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.beforeInsert(args);
      await hooks.beforeInsert(this as unknown as CachedClass, args);
      return result;
    }

    static override async afterInsert(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterInsert(args);
      await hooks.afterInsert(this as unknown as CachedClass, args);
      return result;
    }

    static override async beforeUpdate(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.beforeUpdate(args);
      await hooks.beforeChange(this as unknown as CachedClass, args, 'update');
      return result;
    }

    static override async afterUpdate(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterUpdate(args);
      await hooks.afterUpdate(this as unknown as CachedClass, args);
      return result;
    }

    static override async beforeDelete(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.beforeDelete(args);
      await hooks.beforeChange(this as unknown as CachedClass, args, 'delete');
      return result;
    }

    static override async afterDelete(args: HookArgs): Promise<unknown> {
      const result: unknown = await super.afterDelete(args);
      await hooks.afterDelete(this as unknown as CachedClass, args);
      return result;
    }

    /** Inserts the row when it has no id yet, updates it otherwise; either way its cache keys are flushed. */
    async save(trx?: TransactionOrKnex): Promise<this> {
      const modelClass = this.constructor as typeof Model;
      if (this.$id() === undefined || this.$id() === null) {
        await modelClass.query(trx).insert(this);
      } else {
        await this.$query(trx).patch();
      }
      return this;
    }

    /** Deletes the row and flushes its cache keys; resolves to the number of rows deleted. */
    async delete(trx?: TransactionOrKnex): Promise<number> {
      const deleted: number = await this.$query(trx).delete();
      return deleted;
    }
  }

  holdsStoreAccessor(Cached);
  return Cached as unknown as CachedModelClass<B>;
}
