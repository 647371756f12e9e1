export { CachedModel } from './cached-model.js';
export type { CachedModelClass, CachedModelInstance, CachedModelStatics } from './cached-model.js';
export { configureCache } from './options.js';
export { createMemoryStore, BoundedMap } from './memory-store.js';
export type { CacheOptions, CacheErrorContext, CacheErrorHandler } from './options.js';
export type { KeyValue } from './keys.js';
export type { CacheStatics } from './model-config.js';
