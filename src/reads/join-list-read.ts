import type { Knex } from 'knex';
import { rowKeyValue } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import type { ManyToManyJoin } from '../core/internals.js';
import { matchesOtherSpellings, WHERE_IN_CHUNK, type Loader } from './db-read.js';
import { addToList, listsOf } from './list-read.js';

/**
 * Join lists (cached many-to-many relations): per owner key, the keys of the related rows the join table pairs
 * it with, one per join row, ordered by the related key. A join list is filled, stamped and served like a row's
 * entry (read-through.ts) in a key space of the join table whose generation every write to the join table
 * deletes (model/join-lists.ts); the related rows come through their own row cache.
 */

/** The column name join lists of `join` are kept under: the owner column, then the related column. */
export function joinListName(join: ManyToManyJoin): string {
  return `${join.ownerColumn}>${join.relatedColumn}[]`;
}

/** One name per join (its table and columns): the same join seen through two relations is one. */
export function joinIdentity(join: ManyToManyJoin): string {
  return `${join.joinTable}\u0000${join.ownerColumn}\u0000${join.relatedColumn}`;
}

const loaders = new Map<string, Loader>();

/**
 * The loader of `join`'s lists: one query of the join table for all owner keys (chunked only past
 * `WHERE_IN_CHUNK`), its two columns only. One loader per join, so that reads of one join in a tick batch
 * (read-through.ts compares loaders). An owner key spelled as the DB would not print it, or a string on a DB that
 * matches other spellings, is read on its own and its list is not stored (as for `cacheIndexes` lists).
 */
export function joinListLoader(join: ManyToManyJoin): Loader {
  const name = joinIdentity(join);
  let loader = loaders.get(name);
  if (!loader) {
    loader = (_modelClass, _column, values, trx) => {
      const knex = trx as Knex;
      return listsOf(join.ownerColumn, values, matchesOtherSpellings(knex), (owners) => readJoin(knex, join, owners));
    };
    loaders.set(name, loader);
  }
  return loader;
}

/** The related keys (canonical) the join rows pair with each of `owners`, by the owner key's canonical spelling. */
async function readJoin(knex: Knex, join: ManyToManyJoin, owners: readonly KeyValue[]): Promise<Map<string, string[]>> {
  const lists = new Map<string, string[]>();
  for (let i = 0; i < owners.length; i += WHERE_IN_CHUNK) {
    // aliased: a knex-level postProcessResponse (knexSnakeCaseMappers) renames columns, never these
    const rows = (await knex(join.joinTable)
      .select({ owner: join.ownerColumn, related: join.relatedColumn })
      .whereIn(join.ownerColumn, owners.slice(i, i + WHERE_IN_CHUNK) as (string | number)[])
      .orderBy([join.ownerColumn, join.relatedColumn])) as { owner: unknown; related: unknown }[];
    for (const row of rows) {
      const owner = rowKeyValue(row.owner);
      const related = rowKeyValue(row.related);
      if (owner !== undefined && related !== undefined) addToList(lists, owner, related);
    }
  }
  return lists;
}
