import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { clientOf, wrapClientQuery, type ClientQuery, type KnexClient } from '../core/internals.js';
import { tableKeys } from '../core/keys.js';
import { clientScope } from '../config/scope.js';
import type { ModelSettings } from '../config/settings.js';
import type { GuardedStore } from '../store/guarded-store.js';
import { flushKeys } from './flush.js';

/**
 * Writes that bypass the cached models: `knex('posts').update(...)`, `trx('posts').del()`, `knex.raw('update posts
 * ...')`, and writes through a plain (uncached) Objection model on a cached table. Each one flushes every cached
 * model of the table whole, in the database it wrote to (the model's generation and the table's token): the
 * cache cannot tell which rows such a statement touched. Outside a transaction the flush is done before the
 * write's `await` returns; inside one, after the outermost COMMIT (and not after a ROLLBACK), before the
 * commit's `await` returns.
 *
 * knex offers no hook that runs between a statement and the moment its caller resumes, so the cache wraps the
 * one method every statement and every COMMIT of every knex instance and transaction runs through: the client's
 * `query(connection, sqlObject)` (core/internals.ts `wrapClientQuery`). It is wrapped once per client class,
 * when the cache first sees a knex of it: transactions begun before that are not watched.
 */

/** Marks the SQL of a cached model's own write: its hooks flush the rows exactly, so it is left alone here. */
const OWN_WRITE = Symbol('objection-cache: written by a cached model');

interface OwnWrite {
  readonly keyv: Keyv;
  readonly prefix: string;
}

interface SqlObject {
  readonly sql?: unknown;
  readonly method?: unknown;
  [OWN_WRITE]?: OwnWrite;
}

/** Flushes deferred to their transaction's COMMIT, by the transaction's connection (nested ones share it). */
const deferredByConnection = new WeakMap<object, Map<GuardedStore, Set<string>>>();

/** The caches (store, prefix and the settings with their scope option) that have read or written a database. */
type Caches = Map<Keyv, Map<string, ModelSettings>>;

/**
 * The caches of a knex, by its client's config object: a knex instance and its transactions share it, so a
 * statement finds them with one lookup. A knex no cached model has used is found through the database instead.
 */
const cachesByConfig = new WeakMap<object, Caches>();

/**
 * The caches by the database their knex reads (config/scope.ts, as derived from the connection settings): a
 * statement through another knex instance on that database (a second pool, a `withUserParams` copy, whose config
 * knex copies) flushes them too. A database whose scope cannot be derived is found by config only.
 */
const cachesByDatabase = new Map<string, Caches>();

/** Notes that `settings`' model uses `knex`, and watches the statements of its client class (once per class). */
export function watchRawWrites(knex: Knex, settings: ModelSettings): void {
  const client = clientOf(knex);
  const caches = client && cachesOf(client, true);
  if (caches) {
    let byPrefix = caches.get(settings.store.keyv);
    if (!byPrefix) caches.set(settings.store.keyv, (byPrefix = new Map()));
    if (!byPrefix.has(settings.prefix)) byPrefix.set(settings.prefix, settings);
  }
  wrapClientQuery(client, watchStatements);
}

/**
 * The caches a statement through `client` reaches: its knex's, else those of the database it reads. `create`:
 * make them when there are none yet (a cached model is starting to use this knex).
 */
function cachesOf(client: KnexClient, create = false): Caches | undefined {
  const config = client.config;
  if (!config || typeof config !== 'object') return undefined;
  let caches = cachesByConfig.get(config);
  if (caches) return caches;
  const database = clientScope(client, undefined);
  caches = database === undefined ? undefined : cachesByDatabase.get(database);
  if (!caches && create) {
    caches = new Map();
    if (database !== undefined) cachesByDatabase.set(database, caches);
  }
  if (caches) cachesByConfig.set(config, caches);
  return caches;
}

/** `query` of a knex client, flushing after each write statement (see the top of this file). */
function watchStatements(original: ClientQuery): ClientQuery {
  return function query(this: KnexClient, connection: unknown, sqlObject: unknown): Promise<unknown> {
    const result = original.call(this, connection, sqlObject);
    // The statement is the app's: nothing the cache does here may fail it (store failures are handled below
    // this; anything else is reported and the statement's own result stands).
    let after: (() => Promise<void>) | undefined;
    try {
      after = afterStatement(this, connection, sqlObject);
    } catch (error) {
      unexpected(error);
    }
    return after ? result.then(async (value) => (await after().catch(unexpected), value)) : result;
  };
}

function unexpected(error: unknown): void {
  console.warn(`[objection-cache] watching a knex statement failed, its table's entries were not flushed: ${String(error)}`);
}

/** Marks the SQL `knexBuilder` will run as a write of `settings`' model (see OWN_WRITE). */
export function markOwnWrite(knexBuilder: Knex.QueryBuilder, settings: ModelSettings): void {
  const mark: OwnWrite = { keyv: settings.store.keyv, prefix: settings.prefix };
  const toSQL = knexBuilder.toSQL as (this: unknown, ...args: unknown[]) => unknown;
  Object.defineProperty(knexBuilder, 'toSQL', {
    configurable: true,
    writable: true,
    value(this: unknown, ...args: unknown[]) {
      const compiled = toSQL.apply(this, args);
      for (const statement of Array.isArray(compiled) ? compiled : [compiled]) {
        if (statement && typeof statement === 'object') (statement as SqlObject)[OWN_WRITE] = mark;
      }
      return compiled;
    },
  });
}

/** What to do once `sqlObject` has run, if anything: most statements are reads and cost two property reads. */
function afterStatement(client: KnexClient, connection: unknown, sqlObject: unknown): (() => Promise<void>) | undefined {
  if (typeof sqlObject === 'string') return transactionEnd(connection, sqlObject);
  if (!sqlObject || typeof sqlObject !== 'object') return undefined;
  const { method, sql } = sqlObject as SqlObject;
  if (method !== 'raw' && method !== 'insert' && method !== 'update' && method !== 'del' && method !== 'upsert' && method !== 'truncate') return undefined;
  if (typeof sql !== 'string') return undefined;
  const caches = cachesOf(client);
  if (!caches) return undefined;
  const table = writtenTable(sql);
  if (table === undefined) return undefined;
  const own = (sqlObject as SqlObject)[OWN_WRITE];
  const flushes = new Map<GuardedStore, string[]>();
  // per store and prefix this knex was used with: the tables there the statement writes
  for (const byPrefix of caches.values()) {
    for (const [prefix, settings] of byPrefix) {
      const written = settings.store.state.tables.written(prefix, table);
      if (written.length === 0 || (own && own.keyv === settings.store.keyv && own.prefix === prefix)) continue;
      if (settings.store.closed) continue; // the app disconnected it: a statement of another model must not reconnect it
      const scope = clientScope(client, settings.scope);
      if (scope === undefined) {
        settings.store.reportFailure(
          new Error(`a write to ${table} ran through a knex the cache has not seen, so it cannot tell its database; flush the model yourself`),
          'rawWrite',
        );
        continue;
      }
      const keys = written.flatMap((entry) => tableKeys(prefix, scope, [entry.table, ...entry.cascades]));
      flushes.set(settings.store, [...(flushes.get(settings.store) ?? []), ...keys]);
    }
  }
  if (flushes.size === 0) return undefined;
  if (client.transacting && connection && typeof connection === 'object') {
    let deferred = deferredByConnection.get(connection);
    if (!deferred) deferredByConnection.set(connection, (deferred = new Map()));
    for (const [store, keys] of flushes) {
      let set = deferred.get(store);
      if (!set) deferred.set(store, (set = new Set()));
      for (const key of keys) set.add(key);
    }
    return undefined;
  }
  return () => deliver(flushes);
}

/** After a COMMIT the transaction's deferred flushes go out; after a ROLLBACK (not to a savepoint) they are dropped. */
function transactionEnd(connection: unknown, sql: string): (() => Promise<void>) | undefined {
  if (!connection || typeof connection !== 'object') return undefined;
  const deferred = deferredByConnection.get(connection);
  if (!deferred) return undefined;
  if (/^\s*COMMIT\b/i.test(sql)) {
    deferredByConnection.delete(connection);
    return () => deliver(new Map([...deferred].map(([store, keys]) => [store, [...keys]])));
  }
  if (/^\s*ROLLBACK\s*;?\s*$/i.test(sql)) deferredByConnection.delete(connection);
  return undefined;
}

async function deliver(flushes: Map<GuardedStore, readonly string[]>): Promise<void> {
  await Promise.all([...flushes].map(([store, keys]) => flushKeys(store, keys)));
}

// The statement's first verb and its table: `insert into`, `insert or replace into`, `replace into`, `update`,
// `delete from`, `truncate (table)`, with the table bare, quoted ("", ``, []) and optionally schema-qualified.
const NAME = String.raw`(?:"[^"]+"|\x60[^\x60]+\x60|\[[^\]]+\]|[\w$]+)`;
const WRITE = new RegExp(
  String.raw`^\s*(?:insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update(?:\s+only)?|delete\s+from(?:\s+only)?|truncate(?:\s+table)?(?:\s+only)?)\s+(${NAME}(?:\s*\.\s*${NAME})?)`,
  'i',
);

/** The table a write statement writes, as a cached model names it (`posts`, `app.posts`); undefined for others. */
export function writtenTable(sql: string): string | undefined {
  const match = WRITE.exec(sql);
  if (!match) return undefined;
  return match[1]!
    .split('.')
    .map((part) => part.trim().replace(/^["`[]|["`\]]$/g, ''))
    .join('.');
}
