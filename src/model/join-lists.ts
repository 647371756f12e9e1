import type { Knex } from 'knex';
import type { Model } from 'objection';
import { decodeRow } from '../core/codec.js';
import { manyToManyJoinOf, relationOfFind, type ManyToManyJoin } from '../core/internals.js';
import { canonicalKey, makeKeySpace, tableTokenKey } from '../core/keys.js';
import { isCachedClass, tableOf, type ModelCache } from '../config/settings.js';
import { joinIdentity, joinListLoader, joinListName } from '../reads/join-list-read.js';
import { decodeList } from '../reads/list-read.js';
import { joinConditionOf } from '../reads/query-shape.js';
import { readThrough } from '../reads/read-through.js';
import { modelCache } from './model-cache.js';
import { keepsTableToken } from './table-dependencies.js';

/**
 * Cached many-to-many relations: `$relatedQuery` of a ManyToManyRelation, and its part of `withGraphFetched`, read
 * the join table's lists through the cache (one store read for every owner, at most one DB query for those that
 * missed), then the related rows through their row cache (the same again).
 *
 * The lists live in the owner's store, in a key space of the join table, stamped by the join table's token, which
 * every write to the join table deletes: `relate`, `unrelate` and graph writes (through the join table's model class), a cached or plain
 * model, or raw knex (invalidation/raw-writes.ts: the join table is in the store's catalog, table-dependencies.ts
 * `keepJoinTableToken`). So a write to the join table drops every list of that table at once (exact, if coarse);
 * a write to a related row drops that row's entries only.
 */

/**
 * The rows (DB form, fresh objects) a many-to-many relation find asks for, read through the cache; undefined when
 * the find is not one the cache serves (another relation kind, composite keys, extra join columns, a modified
 * relation, an owner or a join table the cache does not watch), and the DB answers.
 */
export function joinedRows(
  builder: object,
  knexBuilder: Knex.QueryBuilder,
  related: typeof Model,
  relatedCache: ModelCache,
  knex: Knex,
  operation: string,
): Promise<Record<string, unknown>[]> | undefined {
  const relation = relationOfFind(builder);
  const join = relation && manyToManyJoinOf(relation);
  if (!relation || !join || !isCachedClass(relation.ownerModelClass)) return undefined;
  const ownerCache = modelCache(relation.ownerModelClass, knex);
  if (!keepsTableToken(ownerCache, join.joinTable)) return undefined;
  const relatedProperty = relatedCache.propertyOf(join.relatedKey);
  if (!relatedCache.keyColumns.includes(relatedProperty)) return undefined;
  const condition = joinConditionOf(knexBuilder, { ...join, table: tableOf(related) });
  if (!condition) return undefined;
  return readJoined(relation.ownerModelClass, joinListCache(ownerCache, join), join, condition, related, relatedCache, relatedProperty, knex, operation);
}

async function readJoined(
  owner: typeof Model,
  lists: ModelCache,
  join: ManyToManyJoin,
  condition: { readonly values: readonly (string | number | bigint)[]; readonly ownerAliases: readonly string[] },
  related: typeof Model,
  relatedCache: ModelCache,
  relatedProperty: string,
  knex: Knex,
  operation: string,
): Promise<Record<string, unknown>[]> {
  // each owner once, in the order asked (the DB answers each once too)
  const owners = [...new Map(condition.values.map((value) => [canonicalKey(value), value])).values()];
  const listed = (await readThrough(owner, lists, joinListName(join), owners, knex, operation, joinListLoader(join))).map(decodeList);
  const keys = [...new Set(listed.flat())];
  const rows = keys.length === 0 ? [] : await readThrough(related, relatedCache, relatedProperty, keys, knex, operation);
  const byKey = new Map(keys.map((key, i) => [key, rows[i]]));
  return owners.flatMap((value, i) =>
    listed[i]!.flatMap((key) => {
      const row = byKey.get(key);
      // a join row whose related row is gone: the inner join leaves it out
      if (!row) return [];
      const decoded = decodeRow(row);
      // withGraphFetched pairs related rows with their owners by these
      for (const alias of condition.ownerAliases) decoded[alias] = value;
      return [decoded];
    }),
  );
}

const joinCaches = new WeakMap<ModelCache, Map<string, ModelCache>>();

/**
 * The owner's settings, kept for the lists of `join`: its store, prefix, ttl and database scope, with the join
 * table's key space, stamped by the join table's token: every write to the join table deletes it (a cached
 * model's hooks, the join table model's hooks, raw-writes.ts), and so every list of the table at once.
 */
function joinListCache(ownerCache: ModelCache, join: ManyToManyJoin): ModelCache {
  let byJoin = joinCaches.get(ownerCache);
  if (!byJoin) joinCaches.set(ownerCache, (byJoin = new Map()));
  const name = joinIdentity(join);
  let cache = byJoin.get(name);
  if (!cache) {
    const space = makeKeySpace(join.joinTable, ownerCache.prefix, ownerCache.space.scope, join.joinTable, 1);
    cache = {
      ...ownerCache,
      modelName: `${ownerCache.modelName} (join ${join.joinTable})`,
      table: join.joinTable,
      space,
      // the token every write to the join table deletes, whichever way it is written (see the top of this file)
      generationKey: tableTokenKey(space.tag),
      tableTokenKey: tableTokenKey(space.tag),
      cascadeKeys: [],
      verify: undefined,
    };
    byJoin.set(name, cache);
  }
  return cache;
}
