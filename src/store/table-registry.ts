import type { Knex } from 'knex';
import type Keyv from 'keyv';
import type { Model, Relation } from 'objection';
import { tableTag, versionKey } from '../core/keys.js';
import { boundKnex, isCachedClass, modelCache, modelSettings, tableOf, type CachedClass, type ModelCache, type ModelSettings } from '../config/settings.js';
import { flushAfterCommit } from '../invalidation/transaction-flush.js';

/**
 * Which tables have a version token kept up to date, per store and prefix: the tables of the cached models
 * this process has set up, and the join tables of their many-to-many relations. A cached query may only read
 * such tables: a write to any other table would not invalidate it. Kept per store and prefix because a write
 * deletes the version in its own model's store under its own prefix, and only there.
 */
const versioned = new WeakMap<Keyv, Map<string, Map<string, typeof Model>>>();

/** Notes that writes to `table` through `owner` (the first cached class seen for it) keep its token. */
export function registerTable(cache: ModelSettings, table: string, owner: typeof Model): void {
  let byPrefix = versioned.get(cache.store.keyv);
  if (!byPrefix) versioned.set(cache.store.keyv, (byPrefix = new Map()));
  let tables = byPrefix.get(cache.prefix);
  if (!tables) byPrefix.set(cache.prefix, (tables = new Map()));
  if (tables.has(table)) return;
  tables.set(table, owner);
  // one writer per table, store and prefix: they all flush the same keys
  const writer: TableWriter = { table, settings: cache };
  for (const name of new Set([table, lastSegment(table)])) {
    let list = writers.get(name);
    if (!list) writers.set(name, (list = []));
    list.push(writer);
  }
}

/** A table, and the settings (store, prefix, scope) of a cached model that keeps entries of it. */
export interface TableWriter {
  readonly table: string;
  readonly settings: ModelSettings;
}

/** By table name, qualified or not (`app.posts` is found as `posts` too). */
const writers = new Map<string, TableWriter[]>();

function lastSegment(table: string): string {
  return table.slice(table.lastIndexOf('.') + 1);
}

/**
 * The cached models' entries a write to `table` (as a statement spells it) can reach, once per store and prefix.
 * A schema may be spelt out on one side only: `posts` reaches `app.posts` too (the search path may lead there),
 * and `app.posts` reaches `posts`, but not `other.posts`.
 */
export function writersOf(table: string): readonly TableWriter[] {
  if (!table.includes('.')) return writers.get(table) ?? [];
  return (writers.get(lastSegment(table)) ?? []).filter((writer) => writer.table === table || !writer.table.includes('.'));
}

export function isVersioned(keyv: Keyv, prefix: string, table: string): boolean {
  return versioned.get(keyv)?.get(prefix)?.has(table) ?? false;
}

/** The first cached class seen for `table` in this store and prefix: its knex is the table's default database. */
export function tableOwner(keyv: Keyv, prefix: string, table: string): typeof Model | undefined {
  return versioned.get(keyv)?.get(prefix)?.get(table);
}

/** The token key of `table` in the store, prefix and database scope of `cache`. */
export function tableVersionKey(cache: ModelCache, table: string): string {
  return versionKey(tableTag(cache.prefix, cache.space.scope, table));
}

/**
 * The version keys a result read from `tables` depends on, for a query on `modelClass`. Tables not yet known
 * are looked for among the relations of the model (and theirs); a table still unknown throws a TypeError
 * naming it, before any I/O, rather than caching a result that its writes could not invalidate.
 */
export function dependencyKeys(modelClass: CachedClass, cache: ModelCache, tables: Iterable<string>, what: string): string[] {
  const keys = new Set<string>();
  for (const table of tables) {
    if (!isVersioned(cache.store.keyv, cache.prefix, table)) discover(modelClass);
    if (!isVersioned(cache.store.keyv, cache.prefix, table)) {
      throw new TypeError(
        `${what} reads table ${JSON.stringify(table)}, which no cached model with the same store and prefix writes, so its writes could not invalidate the result. ` +
          `Make its model a CachedModel (with ${cache.modelName}'s store and prefix), or leave the query uncached.`,
      );
    }
    keys.add(tableVersionKey(cache, table));
  }
  return [...keys].sort();
}

/** Sets up every cached model reachable through relations from `start`, which registers their tables. */
export function discover(start: CachedClass): void {
  const seen = new Set<typeof Model>([start]);
  const queue: (typeof Model)[] = [start];
  while (queue.length > 0) {
    const modelClass = queue.shift()!;
    let relations: Record<string, Relation>;
    try {
      relations = modelClass.getRelations();
    } catch {
      continue; // relation mappings that do not resolve here are no dependency we can learn about
    }
    for (const relation of Object.values(relations)) {
      const related = relation.relatedModelClass;
      if (seen.has(related)) continue;
      seen.add(related);
      if (!isCachedClass(related)) continue;
      try {
        modelSettings(related);
        queue.push(related);
      } catch {
        // a misconfigured related model reports itself when it is used
      }
    }
  }
}

const instrumented = new WeakSet<object>();
const VERSIONED_HOOKS = ['afterInsert', 'afterUpdate', 'afterDelete'] as const;

/**
 * A many-to-many relation's join rows are written through a model class Objection makes for the join table
 * (`relate`, `unrelate`, graph inserts and upserts), which runs none of our hooks. Its after-hooks are wrapped so
 * that every such write also deletes the join table's version (after the commit, inside a transaction), in the
 * store and prefix of the cached model that owns the relation; and the join table becomes one cached queries
 * may read.
 */
export function versionJoinTable(owner: CachedClass, relation: Relation): void {
  const join = (relation as Relation & { joinTableModelClass?: typeof Model | null }).joinTableModelClass;
  if (!join || isCachedClass(join) || instrumented.has(join)) return;
  let cache: ModelSettings;
  try {
    cache = modelSettings(owner);
  } catch {
    return; // the owner reports its own misconfiguration when used
  }
  instrumented.add(join);
  const table = tableOf(join);
  registerTable(cache, table, owner);
  const hooks = join as unknown as Record<string, (args: { transaction?: Knex }) => unknown>;
  for (const hook of VERSIONED_HOOKS) {
    const original = hooks[hook]!;
    Object.defineProperty(join, hook, {
      configurable: true,
      writable: true,
      value: async function (this: typeof Model, args: { transaction?: Knex }): Promise<unknown> {
        const result = await original.call(this, args);
        // the join rows were written through this knex (or transaction): its database's token goes
        const current = modelCache(owner, boundKnex(owner, args.transaction));
        await flushAfterCommit(args.transaction, current.store, [tableVersionKey(current, table)]);
        return result;
      },
    });
  }
}
