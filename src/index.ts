// The public face: every export of the package, and nothing else. Types are declared in core/public-types.ts.
export { CachedModel } from './model/cached-model.js';
export { cached } from './model/cached-value.js';
export { cacheEvents } from './core/events.js';
export { configureCache } from './config/options.js';
export { createMemoryStore } from './driver/memory-store.js';
export { BoundedMap } from './core/bounded-map.js';
export type {
  CacheBreakerEvent,
  CacheDependency,
  CachedModelClass,
  CachedModelInstance,
  CachedModelStatics,
  CachedOptions,
  CachedQueryBuilder,
  CacheErrorContext,
  CacheErrorEvent,
  CacheErrorHandler,
  CacheEventBase,
  CacheEventKind,
  CacheEventMap,
  CacheEventName,
  CacheFillEvent,
  CacheFlushEvent,
  CacheGraceEvent,
  CacheHitEvent,
  CacheMissEvent,
  CacheStaleEvent,
  CacheVerifyOptions,
  LocalCacheOptions,
  CacheOptions,
  CacheScope,
  CacheStatics,
  KeyValue,
  CacheKey,
  KeyColumns,
  QueryCacheOptions,
} from './core/public-types.js';
