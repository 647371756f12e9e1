import type { Knex } from 'knex';
import { scopeOf } from '../config/scope.js';
import { modelSettings, settingsInScope, type CachedClass, type ModelCache, type ModelSettings } from '../config/settings.js';
import { watchRawWrites } from '../invalidation/raw-writes.js';

/**
 * A model's settings in the database a knex (or transaction) reads: every key the cache builds carries that
 * database's scope, so two databases never share an entry. The first sight of a knex also starts watching the
 * statements it runs (invalidation/raw-writes.ts): this is why it lives above invalidation and not in config/.
 *
 * Per settings, by knex instance (or transaction), held weakly: a knex the app destroyed (a tenant's, a test's)
 * is not kept alive by the cache. A hit finds its scope with one WeakMap lookup. (A shortcut to the last knex
 * used, held in a WeakRef, cost more than that lookup: each `deref()` adds its target to the engine's list of
 * objects kept alive until the job ends, an allocation per hit.)
 */
const bySettings = new WeakMap<ModelSettings, WeakMap<object, ModelCache>>();

/** `settings` in the scope of the database `knex` reads (for callers that hold the settings already). */
export function inScope(settings: ModelSettings, knex: Knex): ModelCache {
  let byKnex = bySettings.get(settings);
  if (!byKnex) bySettings.set(settings, (byKnex = new WeakMap()));
  let cache = byKnex.get(knex);
  if (!cache) {
    cache = settingsInScope(settings, scopeOf(knex, settings.scope, settings.modelName));
    watchRawWrites(knex, settings);
    byKnex.set(knex, cache);
  }
  return cache;
}

/** The cache of `modelClass` in the database `knex` (a knex instance or a transaction) reads. */
export function modelCache(modelClass: CachedClass, knex: Knex): ModelCache {
  return inScope(modelSettings(modelClass), knex);
}
