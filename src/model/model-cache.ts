import type { Knex } from 'knex';
import { isTransaction, scopeOf } from '../config/scope.js';
import { modelSettings, settingsInScope, type CachedClass, type ModelCache, type ModelSettings } from '../config/settings.js';
import { watchRawWrites } from '../invalidation/raw-writes.js';

/**
 * A model's settings in the database a knex (or transaction) reads: every key the cache builds carries that
 * database's scope, so two databases never share an entry. The first sight of a knex also starts watching the
 * statements it runs (invalidation/raw-writes.ts): this is why it lives above invalidation and not in config/.
 */
interface ByKnex {
  /** By knex instance (or transaction): a hit finds its scope with one lookup. */
  readonly caches: WeakMap<object, KnexCache>;
  /**
   * The last non-transaction knex used and its cache: most apps read through one knex, and a hit then skips the
   * lookup. Held weakly, so a knex the app destroyed (a tenant's, a test's) is not kept alive by the cache.
   */
  last?: KnexCache;
}

interface KnexCache {
  readonly knex: WeakRef<object>;
  readonly cache: ModelCache;
}

const bySettings = new WeakMap<ModelSettings, ByKnex>();

/** `settings` in the scope of the database `knex` reads (for callers that hold the settings already). */
export function inScope(settings: ModelSettings, knex: Knex): ModelCache {
  let byKnex = bySettings.get(settings);
  if (!byKnex) bySettings.set(settings, (byKnex = { caches: new WeakMap() }));
  if (byKnex.last?.knex.deref() === knex) return byKnex.last.cache;
  let known = byKnex.caches.get(knex);
  if (!known) {
    known = { knex: new WeakRef(knex), cache: settingsInScope(settings, scopeOf(knex, settings.scope, settings.modelName)) };
    watchRawWrites(knex, settings);
    byKnex.caches.set(knex, known);
  }
  if (!isTransaction(knex)) byKnex.last = known;
  return known.cache;
}

/** The cache of `modelClass` in the database `knex` (a knex instance or a transaction) reads. */
export function modelCache(modelClass: CachedClass, knex: Knex): ModelCache {
  return inScope(modelSettings(modelClass), knex);
}
