import type { Knex } from 'knex';
import type { Model, QueryBuilder } from 'objection';
import { decodeRow } from '../core/codec.js';
import { findsPlainly, hasOperation, inherited } from '../core/internals.js';
import { canonicalKey, isComposite } from '../core/keys.js';
import type { QueryCacheOptions } from '../core/public-types.js';
import { isTransaction } from '../config/scope.js';
import { isCachedClass, modelSettings, tableOf, type CachedClass } from '../config/settings.js';
import { returnAffectedIds } from '../invalidation/affected-rows.js';
import { markOwnWrite } from '../invalidation/raw-writes.js';
import { direct, isDirect } from '../reads/db-read.js';
import { indexConditionOf, keyConditionOf } from '../reads/query-shape.js';
import { readThrough } from '../reads/read-through.js';
import { modelCache } from './model-cache.js';
import { cachedQueryRows, checkQueryCacheOptions } from './query-cache.js';
import { joinedRows } from './join-lists.js';
import { listedRows } from './list-lookup.js';

const OPTIONS = Symbol('objection-cache: cache() options');
/** Set on the clone that Objection's `execute` runs, once it has the cache's knex hook (and on its clones). */
const ROUTED = Symbol('objection-cache: routed');
/** Raised on the caller's builder while Objection's `execute` takes its working clone. */
const EXECUTING = Symbol('objection-cache: executing');
/** On the prototype of every builder class `cachedQueryBuilder` makes (and so of their subclasses). */
const CACHING = Symbol('objection-cache: caching query builder');

interface CacheState {
  [OPTIONS]?: QueryCacheOptions;
  [ROUTED]?: boolean;
  [EXECUTING]?: boolean;
  [CACHING]?: boolean;
}

type AnyBuilder = QueryBuilder<Model, unknown> & CacheState;
type BuilderClass = typeof QueryBuilder;

const made = new WeakMap<BuilderClass, BuilderClass>();

/** `Base` (Objection's QueryBuilder or an app's subclass of it) with the cache's behaviour added. */
export function cachedQueryBuilder(Base: BuilderClass): BuilderClass {
  const existing = made.get(Base);
  if (existing) return existing;
  const Parent = Base as unknown as new (...args: unknown[]) => AnyBuilder;

  class CachingQueryBuilder extends Parent {
    cache(options: QueryCacheOptions = {}): this {
      this[OPTIONS] = checkQueryCacheOptions(this.modelClass().name, options);
      return this;
    }

    override clone(): this {
      const copy = super.clone() as this;
      // Only flags that are set are copied: an own property more on every builder costs every query.
      if (this[OPTIONS]) copy[OPTIONS] = this[OPTIONS];
      if (isDirect(this)) direct(copy);
      if (this[ROUTED]) copy[ROUTED] = true; // a clone of a routed builder carries its hook already
      if (this[EXECUTING] && !this[ROUTED]) {
        const options = this[OPTIONS];
        copy[ROUTED] = true;
        if (this.isFind()) {
          copy.onBuildKnex((knexBuilder: Knex.QueryBuilder, builder: AnyBuilder) => {
            routeThroughCache(knexBuilder, builder, options);
          });
        } else {
          // its hooks flush the rows it writes: raw-writes.ts leaves its SQL alone
          copy.onBuildKnex((knexBuilder: Knex.QueryBuilder, builder: AnyBuilder) => {
            const settings = modelSettings(builder.modelClass() as CachedClass);
            markOwnWrite(knexBuilder, settings);
            if (builder.isUpdate() || builder.isDelete()) returnAffectedIds(knexBuilder, builder, settings);
          });
        }
      }
      return copy;
    }

    /**
     * Relations' queries (withGraphFetched) run as children of the query that loads them: they inherit
     * `cache()`. (Objection's typings leave `childQueryOf` out.)
     */
    childQueryOf(parent: AnyBuilder, options?: object): this {
      const own = inherited<(this: unknown, parent: AnyBuilder, options?: object) => this>(Parent.prototype, 'childQueryOf');
      const child = own.call(this, parent, options);
      if (parent && parent[OPTIONS] && !this[OPTIONS]) this[OPTIONS] = parent[OPTIONS];
      return child;
    }

    /**
     * A query used inside another (`whereIn('authorId', Author.query().select('id'))`) is turned into SQL here.
     * Its cached model is set up on the way, so that its table is one cached queries know, even when nothing in
     * this process has used the model yet. (Objection's typings leave `subqueryOf` out.)
     */
    subqueryOf(parent: AnyBuilder): this {
      const modelClass = this.modelClass();
      if (isCachedClass(modelClass)) modelSettings(modelClass);
      const own = inherited<(this: unknown, parent: AnyBuilder) => this>(Parent.prototype, 'subqueryOf');
      return own.call(this, parent);
    }

    override async execute(): Promise<unknown> {
      if (this[ROUTED] || isDirect(this) || (this.isFind() && (inTransaction(this) || !servable(this)))) return super.execute();
      // Objection's execute() runs on a clone that it takes before its first await. While the flag is up, clone()
      // gives that clone the cache's knex hook, so the caller's builder stays as it was and no second clone is made.
      this[EXECUTING] = true;
      try {
        return super.execute();
      } finally {
        this[EXECUTING] = undefined;
      }
    }

    override async resultSize(): Promise<number> {
      const options = this[OPTIONS];
      if (!options || isDirect(this) || inTransaction(this)) return super.resultSize();
      // Objection's own resultSize, with the count query's rows read through the cache.
      const knex = this.knex();
      const builder = this.clone().clear(/orderBy|offset|limit/) as unknown as { toKnexQuery(into: Knex.QueryBuilder): Knex.QueryBuilder };
      const count = knex.count('* as count') as unknown as { from(build: (into: Knex.QueryBuilder) => void): Knex.QueryBuilder };
      const countQuery = count.from((into) => {
        builder.toKnexQuery(into).as('temp');
      });
      const modelClass = this.modelClass() as CachedClass;
      const rows = (await cachedQueryRows(countQuery, modelClass, knex, options, () => countQuery.then((result) => result), 'resultSize')) as {
        count?: unknown;
      }[];
      const total = rows[0]?.count;
      return total ? parseInt(String(total), 10) : 0;
    }
  }

  Object.defineProperty(CachingQueryBuilder.prototype, CACHING, { value: true });
  const result = CachingQueryBuilder as unknown as BuilderClass;
  made.set(Base, result);
  return result;
}

/**
 * Makes `modelClass` query through a caching builder. A subclass of a cached model that sets its own
 * `static QueryBuilder` (one extending Objection's, not ours) would otherwise lose `cache()`, `cacheQueries`
 * and cached relation lookups without a word; its builder is extended like the base's on its first query.
 */
export function adoptQueryBuilder(modelClass: typeof Model): void {
  const Builder = modelClass.QueryBuilder;
  if ((Builder.prototype as CacheState)[CACHING]) return;
  Object.defineProperty(modelClass, 'QueryBuilder', { value: cachedQueryBuilder(Builder), writable: true, configurable: true, enumerable: true });
}

function inTransaction(builder: AnyBuilder): boolean {
  try {
    return isTransaction(builder.knex());
  } catch {
    return false; // no knex bound: Objection reports that when the query runs
  }
}

/**
 * Replaces the DB round trip of the built knex query (once built, it is awaited exactly once) with a cache read.
 * Everything Objection does with the rows (models, `$afterFind`, eager loading, `first()`, `page()`) runs as
 * for rows from the DB.
 */
function routeThroughCache(knexBuilder: Knex.QueryBuilder, builder: AnyBuilder, options: QueryCacheOptions | undefined): void {
  const run = knexBuilder.then as (this: Knex.QueryBuilder, ...args: unknown[]) => Promise<unknown>;
  const fromDb = () => new Promise<unknown>((resolve, reject) => void run.call(knexBuilder, resolve, reject));
  Object.defineProperty(knexBuilder, 'then', {
    configurable: true,
    writable: true,
    value(onFulfilled?: (value: unknown) => unknown, onRejected?: (error: unknown) => unknown) {
      return serve(knexBuilder, builder, options, fromDb).then(onFulfilled, onRejected);
    },
  });
}

async function serve(
  knexBuilder: Knex.QueryBuilder,
  builder: AnyBuilder,
  options: QueryCacheOptions | undefined,
  fromDb: () => Promise<unknown>,
): Promise<unknown> {
  const modelClass = builder.modelClass();
  if (!isCachedClass(modelClass)) return fromDb();
  // The query's own knex (`query(knex)`, `bindKnex`, `$relatedQuery(name, knex)`, eager loading from such a
  // query): its database is the one read, and its scope the one the entries belong to.
  const knex = builder.knex();
  if (modelClass.cacheQueries === true || isRelationFind(builder)) {
    const cache = modelCache(modelClass, knex);
    const condition = keyConditionOf(knexBuilder, tableOf(modelClass), cache.keyColumnNames);
    if (condition) {
      const values = [...new Map(condition.values.map((value) => [canonicalKey(value), value])).values()];
      // without cacheQueries only relation finds get here
      const operation = modelClass.cacheQueries !== true || isRelationFind(builder) ? 'relation' : 'query';
      const rows = await readThrough(modelClass, cache, cache.propertyOf(condition.column), values, knex, operation);
      return rows.flatMap((row) => (row === null ? [] : [decodeRow(row)]));
    }
    // a many-to-many relation (for one owner, or many): through the join table's lists, then the rows
    const joined = isRelationFind(builder) ? joinedRows(builder, knexBuilder, modelClass, cache, knex, 'relation') : undefined;
    if (joined) return joined;
    // a has-many relation (for one owner, or many with withGraphFetched) on a cached index: through its lists
    const indexed = cache.indexColumns.filter((index) => !isComposite(index));
    const onIndex = indexed.length > 0 ? indexConditionOf(knexBuilder, tableOf(modelClass), indexed.map(cache.columnOf)) : undefined;
    if (onIndex) {
      const values = [...new Map(onIndex.values.map((value) => [canonicalKey(value), value])).values()];
      const operation = modelClass.cacheQueries !== true || isRelationFind(builder) ? 'relation' : 'query';
      return (await listedRows(modelClass, cache, cache.propertyOf(onIndex.column), values, knex, operation)).flat();
    }
  }
  if (options) return cachedQueryRows(knexBuilder, modelClass, knex, options, fromDb);
  return fromDb();
}

/**
 * A find the cache may serve: with `cache()`, on a model with `cacheQueries`, or for a relation (one whose find
 * operation is, or will be, a relation's: anything but a plain `query()`'s). Any other find on a cached model runs
 * as Objection runs it, without the knex hook: with it, a plain `findOne` on a cached model cost 9–11% more than
 * on a plain model; without it, 3–4% (interleaved probe, SQLite).
 */
function servable(builder: AnyBuilder): boolean {
  const modelClass = builder.modelClass();
  return isCachedClass(modelClass) && (builder[OPTIONS] !== undefined || modelClass.cacheQueries === true || !findsPlainly(builder) || isRelationFind(builder));
}

/** A query Objection runs for a relation (`$relatedQuery`, or a relation's part of `withGraphFetched`). */
function isRelationFind(builder: AnyBuilder): boolean {
  return hasOperation(builder, (op) => op.name === 'find' && op.relation !== undefined && op.relation !== null);
}
