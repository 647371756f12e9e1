import type Keyv from 'keyv';
import { createMemoryStore } from '../driver/memory-store.js';
import type { CacheErrorHandler, CacheOptions, CacheScope, CacheVerifyOptions, LocalCacheOptions } from '../core/public-types.js';

export const DEFAULT_TTL = 60 * 60 * 1000;
export const DEFAULT_MISS_TTL = 5 * 60 * 1000;
export const DEFAULT_PREFIX = 'oc';
export const DEFAULT_TIMEOUT = 1000;
export const DEFAULT_VERIFY_DELAY = 1000;

const warn: CacheErrorHandler = (error, context) => {
  const where = context.model ? `${context.model} ` : '';
  const outcome = context.operation.startsWith('after') ? 'flushed the model whole' : 'served from the database';
  console.warn(`[objection-cache] ${where}${context.operation} failed, ${outcome}: ${String(error)}`);
};

let defaults: CacheOptions = {};
/** Counts `configureCache` calls: model settings resolved before the last one are resolved again. */
let revision = 0;

export function defaultsRevision(): number {
  return revision;
}
let defaultStore: Keyv | undefined;

/** Sets process-wide defaults; `CachedModel(Base, options)` and a model's static properties override them. */
export function configureCache(options: CacheOptions): void {
  for (const name of ['ttl', 'missTtl', 'timeout', 'grace', 'graceTimeout'] as const) {
    if (options[name] !== undefined) checkTtl(name, options[name]);
  }
  if (options.verify !== undefined) checkVerify(options.verify);
  if (options.localCache !== undefined) checkLocalCache(options.localCache);
  defaults = { ...defaults, ...options };
  revision++;
}

/** The settled options for one model: statics > mixin options > configureCache > built-ins. */
export interface ResolvedOptions {
  readonly store: Keyv;
  readonly ttl: number;
  readonly missTtl: number;
  readonly prefix: string;
  readonly timeout: number;
  readonly onError: CacheErrorHandler;
  readonly scope: CacheScope | undefined;
  readonly grace: number;
  readonly graceTimeout: number;
  /** The consistency check, settled; undefined when off (no option, or a sample rate of 0). */
  readonly verify: Required<CacheVerifyOptions> | undefined;
  /** The local tier's options, checked; undefined when off. */
  readonly localCache: LocalCacheOptions | undefined;
}

export function resolveOptions(mixin: CacheOptions, statics: { store?: Keyv; ttl?: number; missTtl?: number; scope?: CacheScope }): ResolvedOptions {
  const pick = <K extends keyof CacheOptions>(key: K): CacheOptions[K] => mixin[key] ?? defaults[key];
  return {
    store: statics.store ?? pick('store') ?? memoryStore(),
    ttl: checkTtl('ttl', statics.ttl ?? pick('ttl') ?? DEFAULT_TTL),
    missTtl: checkTtl('missTtl', statics.missTtl ?? pick('missTtl') ?? DEFAULT_MISS_TTL),
    prefix: pick('prefix') ?? DEFAULT_PREFIX,
    timeout: checkTtl('timeout', pick('timeout') ?? DEFAULT_TIMEOUT),
    onError: pick('onError') ?? warn,
    scope: statics.scope ?? pick('scope'),
    verify: checkVerify(pick('verify')),
    grace: checkTtl('grace', pick('grace') ?? 0),
    graceTimeout: checkTtl('graceTimeout', pick('graceTimeout') ?? 0),
    localCache: checkLocalCache(pick('localCache')),
  };
}

/** A duration option: a finite number of milliseconds, 0 or more. */
export function isMilliseconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function checkTtl(name: string, value: number): number {
  if (!isMilliseconds(value)) {
    throw new TypeError(`objection-cache: ${name} must be a finite number of milliseconds >= 0, got ${String(value)}`);
  }
  return value;
}

/** The `verify` option checked: a sample rate from 0 to 1 and a delay in ms; undefined when off. */
function checkVerify(verify: CacheVerifyOptions | undefined): Required<CacheVerifyOptions> | undefined {
  if (verify === undefined) return undefined;
  if (typeof verify !== 'object' || verify === null)
    throw new TypeError(`objection-cache: verify must be an object such as { sampleRate: 0.01 }, got ${String(verify)}`);
  // the same option object settles to the same object: model settings are remade only when an input changes
  const known = settledVerify.get(verify);
  if (known) return known.settled;
  const { sampleRate, delay = DEFAULT_VERIFY_DELAY } = (verify ?? {}) as CacheVerifyOptions;
  if (typeof sampleRate !== 'number' || !(sampleRate >= 0 && sampleRate <= 1)) {
    throw new TypeError(`objection-cache: verify.sampleRate must be a number from 0 to 1, got ${String(sampleRate)}`);
  }
  checkTtl('verify.delay', delay);
  const settled = sampleRate === 0 ? undefined : { sampleRate, delay };
  settledVerify.set(verify, { settled });
  return settled;
}

/** The `localCache` option checked: a positive integer `maxEntries` and a `ttl` in ms above 0. */
function checkLocalCache(localCache: LocalCacheOptions | undefined): LocalCacheOptions | undefined {
  if (localCache === undefined) return undefined;
  if (typeof localCache !== 'object' || localCache === null) {
    throw new TypeError(`objection-cache: localCache must be an object such as { maxEntries: 10000, ttl: 5000 }, got ${String(localCache)}`);
  }
  const { maxEntries, ttl } = localCache;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`objection-cache: localCache.maxEntries must be a positive integer, got ${String(maxEntries)}`);
  }
  if (!isMilliseconds(ttl) || ttl === 0) {
    throw new TypeError(`objection-cache: localCache.ttl must be a finite number of milliseconds > 0, got ${String(ttl)}`);
  }
  return localCache;
}

const settledVerify = new WeakMap<object, { settled: Required<CacheVerifyOptions> | undefined }>();

/** The default store, made on first use: one bounded in-memory Keyv shared by every model. */
function memoryStore(): Keyv {
  defaultStore ??= createMemoryStore();
  return defaultStore;
}
