import type Keyv from 'keyv';
import { createMemoryStore } from '../store/memory-store.js';
import type { CacheScope } from './scope.js';

/** What went wrong in the cache layer; passed to `onError`. The DB result is never affected by it. */
export interface CacheErrorContext {
  /**
   * The store operation that failed or timed out: `getMany`, `setMany`, `deleteMany`, `delete`, or `store` for
   * errors a Keyv emitted; or `afterUpdate` when the keys a write changed could not be read back (the model was
   * flushed whole instead).
   */
  readonly operation: string;
  /** Model name where known. */
  readonly model?: string;
}

export type CacheErrorHandler = (error: unknown, context: CacheErrorContext) => void;

export interface CacheOptions {
  /** The Keyv the entries live in. Default: one in-memory Keyv shared by every model, at most 100,000 entries. */
  store?: Keyv;
  /** Lifetime of a cached row, in milliseconds (as Keyv); 0 keeps it until flushed. Default 1 hour. */
  ttl?: number;
  /** Lifetime of a cached miss, in milliseconds. Default 5 minutes. */
  missTtl?: number;
  /** Start of every key, to keep apps that share a store apart. Default `oc`. */
  prefix?: string;
  /** How long one store call may take before the cache is bypassed for it, in milliseconds. Default 1000. */
  timeout?: number;
  /** Receives every store failure. Default: a `console.warn` line per failure. */
  onError?: CacheErrorHandler;
  /**
   * The database scope of entries, where the connection settings cannot tell databases apart: a name, or a
   * function of the knex (or transaction) a query runs on, called once per knex instance. Default: derived from
   * the knex's client and the settings that select the data (host, port, database, SQLite file, `searchPath`).
   */
  scope?: CacheScope;
}

export const DEFAULT_TTL = 60 * 60 * 1000;
export const DEFAULT_MISS_TTL = 5 * 60 * 1000;
export const DEFAULT_PREFIX = 'oc';
export const DEFAULT_TIMEOUT = 1000;

const warn: CacheErrorHandler = (error, context) => {
  const where = context.model ? `${context.model} ` : '';
  const outcome = context.operation.startsWith('after') ? 'flushed the model whole' : 'served from the database';
  console.warn(`[objection-cache] ${where}${context.operation} failed, ${outcome}: ${String(error)}`);
};

let defaults: CacheOptions = {};
let defaultStore: Keyv | undefined;

/** Sets process-wide defaults; `CachedModel(Base, options)` and a model's static properties override them. */
export function configureCache(options: CacheOptions): void {
  for (const name of ['ttl', 'missTtl', 'timeout'] as const) {
    if (options[name] !== undefined) checkTtl(name, options[name]);
  }
  defaults = { ...defaults, ...options };
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

/** The default store, made on first use: one bounded in-memory Keyv shared by every model. */
function memoryStore(): Keyv {
  defaultStore ??= createMemoryStore();
  return defaultStore;
}
