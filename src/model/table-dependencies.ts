import type { Knex } from 'knex';
import type { Model, Relation } from 'objection';
import { joinTableModelClassOf } from '../core/internals.js';
import { tableTokenKeyIn } from '../core/keys.js';
import { boundKnex, isCachedClass, modelSettings, tableOf, type CachedClass, type ModelCache, type ModelSettings } from '../config/settings.js';
import { flushAfterCommit } from '../invalidation/transaction-flush.js';
import { modelCache } from './model-cache.js';

/**
 * Which tables a cached query or `cached()` value may depend on: those whose token the cache keeps (the store's
 * table catalog, store/table-catalog.ts). A table is known once a cached model on it, or a many-to-many
 * relation through it, has been set up in this process; these functions set up what can be reached first.
 */

/** True when writes to `table` delete its token in the store and prefix of `settings`. */
export function keepsTableToken(settings: ModelSettings, table: string): boolean {
  return settings.store.state.tables.get(settings.prefix, table) !== undefined;
}

/**
 * The table token keys a result read from `tables` depends on, for a query on `modelClass`. Tables not yet known
 * are looked for among the relations of the model (and theirs); a table still unknown throws a TypeError
 * naming it, before any I/O, rather than caching a result that its writes could not invalidate.
 */
export function dependencyKeys(modelClass: CachedClass, cache: ModelCache, tables: Iterable<string>, what: string): string[] {
  const keys = new Set<string>();
  for (const table of tables) {
    if (!keepsTableToken(cache, table)) discover(modelClass);
    if (!keepsTableToken(cache, table)) {
      throw new TypeError(
        `${what} reads table ${JSON.stringify(table)}, which no cached model with the same store and prefix writes, so its writes could not invalidate the result. ` +
          `Make its model a CachedModel (with ${cache.modelName}'s store and prefix), or leave the query uncached.`,
      );
    }
    keys.add(tableTokenKeyIn(cache.prefix, cache.space.scope, table));
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
const TOKEN_HOOKS = ['afterInsert', 'afterUpdate', 'afterDelete'] as const;

/**
 * A many-to-many relation's join rows are written through a model class Objection makes for the join table
 * (`relate`, `unrelate`, graph inserts and upserts), which runs none of our hooks. Its after-hooks are wrapped so
 * that every such write also deletes the join table's token (after the commit, inside a transaction), in the
 * store and prefix of the cached model that owns the relation; and the join table becomes one cached queries
 * may read.
 */
export function keepJoinTableToken(owner: CachedClass, relation: Relation): void {
  const join = joinTableModelClassOf<typeof Model>(relation);
  if (!join || isCachedClass(join) || instrumented.has(join)) return;
  let settings: ModelSettings;
  try {
    settings = modelSettings(owner);
  } catch {
    return; // the owner reports its own misconfiguration when used
  }
  instrumented.add(join);
  const table = tableOf(join);
  settings.store.state.tables.register(settings.prefix, table, owner, []);
  const hooks = join as unknown as Record<string, (args: { transaction?: Knex }) => unknown>;
  for (const hook of TOKEN_HOOKS) {
    const original = hooks[hook]!;
    Object.defineProperty(join, hook, {
      configurable: true,
      writable: true,
      value: async function (this: typeof Model, args: { transaction?: Knex }): Promise<unknown> {
        const result = await original.call(this, args);
        // the join rows were written through this knex (or transaction): its database's token goes
        const current = modelCache(owner, boundKnex(owner, args.transaction));
        await flushAfterCommit(args.transaction, current.store, [tableTokenKeyIn(current.prefix, current.space.scope, table)]);
        return result;
      },
    });
  }
}
