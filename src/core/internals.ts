/**
 * Every use of another library's internals, in one place (as Objection keeps its own in `utils/knexUtils.js`).
 * Each reach says why no public API does the job, and was checked against knex 2.4–3.3, Objection 3.1.5, Keyv
 * 5.6 and @keyv/redis 5.1. test/internals.test.ts runs each one against the installed versions: an upgrade that
 * removes one fails there, by name, before it fails anywhere else.
 *
 * Nothing here knows the cache: these are typed doors into knex, Objection and Keyv, nothing more.
 *
 * Behaviour relied on elsewhere, through public methods, and proven by the behaviour suites (test/queries,
 * test/transparent, test/write-paths) rather than here: Objection's `execute()` takes its working clone of the
 * builder before its first `await` (model/query-builder.ts routes that clone); an `onBuildKnex` callback gets the
 * knex builder that is then awaited exactly once, so replacing its `then` (reads through the cache,
 * invalidation/affected-rows.ts) or its `toSQL` (invalidation/raw-writes.ts `markOwnWrite`) affects that one
 * statement only.
 */

import { createRequire } from 'node:module';
import Keyv from 'keyv';
import { Model, QueryBuilder, type ColumnNameMappers, type Relation } from 'objection';

/* ----------------------------------------------------------------------------------------------- knex */

/** The settings given to `knex(config)`, as knex keeps them. */
export interface KnexConfig {
  readonly client?: unknown;
  readonly connection?: unknown;
  readonly searchPath?: unknown;
}

/** A knex client (of a knex instance or a transaction), as far as the cache reads it. */
export interface KnexClient {
  readonly dialect?: unknown;
  readonly driverName?: unknown;
  readonly config?: KnexConfig;
  /** True on a transaction's client. */
  readonly transacting?: boolean;
}

/**
 * The client of a knex or transaction, whose `config` says which database it reads. knex copies the config given
 * to `knex(config)` into `client.config` (lib/client.js), and a transaction's client shares that object
 * (lib/execution/transaction.js `makeTxClient`); `withUserParams` copies it (make-knex.js). knex has no public
 * accessor for it.
 */
export function clientOf(knex: unknown): KnexClient | undefined {
  const client = (knex as { client?: unknown } | null | undefined)?.client;
  return client && typeof client === 'object' ? (client as KnexClient) : undefined;
}

/** The SQL dialect of a knex or transaction (`pg` clients say `postgresql`), from its client. */
export function dialectOf(knex: unknown): string {
  return String(clientOf(knex)?.dialect ?? '');
}

/** One statement as knex hands it to its client: `sql` and the builder `method` that made it. */
export type ClientQuery = (this: KnexClient, connection: unknown, sqlObject: unknown) => Promise<unknown>;

const wrappedClientClasses = new WeakSet<object>();

/**
 * Wraps `query(connection, sqlObject)` of the client class of `client`, once per class: every statement and every
 * COMMIT of every knex instance and transaction of that class runs through it (lib/client.js; a transaction's
 * client copies the method when it starts). knex offers no hook that runs between a statement and the moment its
 * caller resumes (its `query-response` event does not wait for listeners). False where there is no such method.
 */
export function wrapClientQuery(client: KnexClient | undefined, wrap: (original: ClientQuery) => ClientQuery): boolean {
  let proto: object | null = Object.getPrototypeOf(client ?? {});
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'query')) proto = Object.getPrototypeOf(proto);
  if (!proto) return false;
  if (wrappedClientClasses.has(proto)) return true;
  const original = (proto as { query?: unknown }).query;
  if (typeof original !== 'function') return false;
  wrappedClientClasses.add(proto);
  Object.defineProperty(proto, 'query', { configurable: true, writable: true, value: wrap(original as ClientQuery) });
  return true;
}

/** What the cache reads of a knex transaction (documented in part: `isTransaction`, `executionPromise`). */
export interface KnexTransaction {
  readonly isTransaction?: boolean;
  /** The enclosing transaction of a savepoint (lib/execution/transaction.js). */
  readonly parentTransaction?: KnexTransaction;
  readonly executionPromise?: Promise<unknown>;
  readonly client?: { query?: (...args: unknown[]) => Promise<unknown> };
}

/** The outermost transaction `knex` runs in (itself, or the parent of its savepoints); undefined outside one. */
export function outermostTransaction(knex: unknown): KnexTransaction | undefined {
  const transaction = knex as KnexTransaction | undefined;
  if (!transaction?.isTransaction) return undefined;
  let root = transaction;
  while (root.parentTransaction?.isTransaction) root = root.parentTransaction;
  return root;
}

/**
 * Wraps the `query` method of a transaction's own client (`makeTxClient` gives each transaction a client object
 * with its own `query`), through which its COMMIT and ROLLBACK run: the cache flushes between the COMMIT and
 * the moment `await trx.commit()` (or the transaction's promise) resolves. False where the client has none.
 */
export function wrapTransactionQuery(
  transaction: KnexTransaction,
  wrap: (original: (...args: unknown[]) => Promise<unknown>) => (...args: unknown[]) => Promise<unknown>,
): boolean {
  const client = transaction.client;
  const query = client?.query;
  if (!client || typeof query !== 'function' || !Object.prototype.hasOwnProperty.call(client, 'query')) return false;
  client.query = wrap(query);
  return true;
}

/** The SQL text of a statement as a client's `query` receives it (a string, or an object with `sql`). */
export function sqlOf(sqlObject: unknown): string {
  if (typeof sqlObject === 'string') return sqlObject;
  if (sqlObject && typeof sqlObject === 'object' && typeof (sqlObject as { sql?: unknown }).sql === 'string') return (sqlObject as { sql: string }).sql;
  return '';
}

/** One entry of a knex builder's `_statements`: a where, join, column list, with clause... */
export interface KnexStatement {
  readonly grouping?: string;
  readonly type?: string;
  readonly joinType?: string;
  readonly table?: unknown;
  readonly column?: unknown;
  readonly operator?: unknown;
  readonly value?: unknown;
  readonly not?: boolean;
  /** The name a `with` clause gives its query. */
  readonly alias?: unknown;
  /** A join's schema (`withSchema`), and its `on` clauses. */
  readonly schema?: unknown;
  readonly clauses?: readonly KnexStatement[];
}

/** What a built knex query holds. */
export interface KnexBuilderState {
  readonly _method?: string;
  readonly _single: Record<string, unknown>;
  readonly _statements: readonly KnexStatement[];
  readonly client: { queryBuilder(): unknown; dialect?: string };
}

/**
 * A knex builder's state (`_method`, `_single`, `_statements`: lib/query/querybuilder.js), or undefined for
 * anything else. knex keeps no public description of a query; the cache reads one to learn which tables a
 * query reads and whether it is a plain key lookup, and to see whether the app asked for a RETURNING.
 */
export function knexBuilderState(builder: unknown): KnexBuilderState | undefined {
  const state = builder as Partial<KnexBuilderState> | null;
  return state && typeof state === 'object' && state._single && Array.isArray(state._statements) ? (state as KnexBuilderState) : undefined;
}

/** True for a `knex.raw()` value (lib/raw.js, class `Raw`): knex exports no way to tell one. */
export function isKnexRaw(value: object): value is { sql: string; bindings?: unknown[] } {
  return value.constructor?.name === 'Raw' && typeof (value as { sql?: unknown }).sql === 'string';
}

/* ------------------------------------------------------------------------------------------ Objection */

/**
 * The table of a model class as Objection resolves it: `tableName` may be a getter or inherited, and
 * `getTableName()` (lib/model/Model.js, left out of the typings) is what Objection's own queries use.
 */
export function tableNameOf(modelClass: object): string {
  return (modelClass as { getTableName(): string }).getTableName();
}

/** True for an Objection model class (one with `getTableName`, as every `Model` subclass has). */
export function isModelClass(value: unknown): boolean {
  return typeof value === 'function' && typeof (value as { getTableName?: unknown }).getTableName === 'function';
}

/**
 * The query builder behind static hook arguments (`beforeUpdate`, `afterUpdate`...). Objection keeps it under a
 * symbol (lib/model/modelHooks.js); it is the one object shared by a write's before and after hooks, which is
 * where the cache keeps the keys it read before the write.
 */
export function hookBuilderOf<B extends object>(args: object): B {
  for (const symbol of Object.getOwnPropertySymbols(args)) {
    const value = (args as Record<symbol, unknown>)[symbol];
    if (value && typeof value === 'object') return value as B;
  }
  throw new Error('objection-cache: Objection hook arguments carry no query builder; this Objection version is not supported');
}

/**
 * The `raw()`, `ref()` and subquery values of a patch: Objection moves them out of the model into a hidden
 * `$$queryProps` object (lib/model/modelQueryProps.js) before hooks run. A key column set to one of them has a
 * new value only the DB knows.
 */
export function queryPropsOf(patch: object): Record<string, unknown> {
  return ((patch as Record<string, unknown>)['$$queryProps'] ?? {}) as Record<string, unknown>;
}

/**
 * The arguments of a builder's operation, such as `onConflict(columns)`: Objection's `findOperation` is public
 * in its JS and left out of its typings.
 */
export function operationArgs(builder: object, name: string): readonly unknown[] | undefined {
  const operation = (builder as { findOperation(name: string): { args?: unknown[] } | null }).findOperation(name);
  return operation?.args;
}

/**
 * True when the builder has an operation matching `predicate`: Objection's `has` takes a predicate over its
 * operations (name, relation), which its typings leave out.
 */
export function hasOperation(builder: object, predicate: (operation: { name?: string; relation?: unknown }) => boolean): boolean {
  return (builder as { has(selector: typeof predicate): boolean }).has(predicate);
}

/**
 * True when a builder will make its `find` operation with Objection's default factory (a plain `query()`), before
 * it has one: Objection adds it as the query is built, after `execute()` starts, from the factory a relation
 * query (`$relatedQuery`, `relatedQuery`) or an instance query (`$query`) set in its place. `_findOperationFactory`
 * is left out of the typings; the default is read from a fresh builder.
 */
export function findsPlainly(builder: object): boolean {
  return (builder as FindFactoryHolder)._findOperationFactory === DEFAULT_FIND_FACTORY;
}

interface FindFactoryHolder {
  readonly _findOperationFactory?: unknown;
}

const DEFAULT_FIND_FACTORY = (QueryBuilder.forClass(Model) as unknown as FindFactoryHolder)._findOperationFactory;

/**
 * The relation a relation find (`$relatedQuery`, a relation's part of `withGraphFetched`) loads: the `relation` of
 * its `find` operation, found with Objection's `findOperation`, which its typings leave out.
 */
export function relationOfFind(builder: object): Relation | undefined {
  const find = (
    builder as { findOperation(selector: (operation: { name?: string; relation?: unknown }) => boolean): { relation?: unknown } | null }
  ).findOperation((operation) => operation.name === 'find' && operation.relation !== undefined && operation.relation !== null);
  return (find?.relation ?? undefined) as Relation | undefined;
}

/** A many-to-many relation's join, as the cache reads it: single-column keys only, no extra columns. */
export interface ManyToManyJoin {
  /** As the relation names it (maybe schema-qualified). */
  readonly joinTable: string;
  /** The join table's column holding the owner's key. */
  readonly ownerColumn: string;
  /** The join table's column holding the related row's key. */
  readonly relatedColumn: string;
  /** The related table's column the join table refers to. */
  readonly relatedKey: string;
}

/**
 * The join of `relation` when it is a many-to-many relation the cache can serve: one owner column, one related
 * column, and no `extra` columns (`joinTableExtras`, left out of Objection's typings) nor a modified join table
 * (`joinTableModify`, likewise), whose rows the cache would not hold.
 */
export function manyToManyJoinOf(relation: Relation): ManyToManyJoin | undefined {
  const { joinTable, joinTableOwnerProp, joinTableRelatedProp, relatedProp } = relation as Partial<Relation>;
  const extras = (relation as { joinTableExtras?: unknown }).joinTableExtras;
  const modify = (relation as { joinTableModify?: unknown }).joinTableModify;
  if (typeof joinTable !== 'string' || !joinTableOwnerProp || !joinTableRelatedProp || !relatedProp) return undefined;
  if (!Array.isArray(extras) || extras.length > 0 || modify) return undefined;
  if (joinTableOwnerProp.size !== 1 || joinTableRelatedProp.size !== 1 || relatedProp.size !== 1) return undefined;
  return { joinTable, ownerColumn: joinTableOwnerProp.cols[0]!, relatedColumn: joinTableRelatedProp.cols[0]!, relatedKey: relatedProp.cols[0]! };
}

/**
 * How Objection's `fromDatabaseJson(json)` reads a row on `modelClass`, where that can come down to
 * `Object.assign(new modelClass(), json)`, after the column name mappers' `parse` if the class has mappers
 * (`mappers`, undefined for none); undefined where it does more. The instance must then keep Objection's own
 * `$setDatabaseJson` and `$parseDatabaseJson` too (`setsDatabaseJsonPlainly`: a class field may override them).
 *
 * Objection's (lib/model/Model.js, modelSet.js `setDatabaseJson`) makes `new this()`, passes the json through the
 * instance's `$parseDatabaseJson` (the mappers' `parse`, then the JSON attributes parsed from strings) and sets
 * each own key on it in `Object.keys` order, as `Object.assign` does. So it holds for a class that keeps
 * Objection's own `fromDatabaseJson` and has no JSON attributes. The mappers and the JSON attributes come from
 * `getColumnNameMappers()` and `getJsonAttributes()` (left out of the typings), which Objection computes once per
 * class and keeps; this keeps them likewise. The methods are compared on every call, so a plugin that overrides
 * one later is honoured. A hit on Redis spent 2–5% of its time in Objection's steps around the assignment.
 */
export function plainRowReading(modelClass: typeof Model): RowReading | undefined {
  if (modelClass.fromDatabaseJson !== objectionFromDatabaseJson) return undefined;
  let reading = readings.get(modelClass);
  if (reading === undefined) {
    const objection = modelClass as unknown as { getColumnNameMappers(): ColumnNameMappers | null; getJsonAttributes(): readonly string[] };
    reading = objection.getJsonAttributes().length === 0 ? { mappers: objection.getColumnNameMappers() ?? undefined } : null;
    readings.set(modelClass, reading);
  }
  return reading ?? undefined;
}

/** True while `model` has Objection's own `$setDatabaseJson` and `$parseDatabaseJson` (see `plainRowReading`). */
export function setsDatabaseJsonPlainly(model: Model): boolean {
  return model.$setDatabaseJson === objectionSetDatabaseJson && model.$parseDatabaseJson === objectionParseDatabaseJson;
}

export interface RowReading {
  /** The class's column name mappers, whose `parse` a row goes through first; undefined for none. */
  readonly mappers: ColumnNameMappers | undefined;
}

// Objection's own, read once at load: what a class that overrides none of them inherits
const objectionFromDatabaseJson = Model.fromDatabaseJson;
const objectionSetDatabaseJson = Model.prototype.$setDatabaseJson;
const objectionParseDatabaseJson = Model.prototype.$parseDatabaseJson;

/** Per class, its reading (see `plainRowReading`), or null where it has JSON attributes. */
const readings = new WeakMap<typeof Model, RowReading | null>();

/** The model class of a many-to-many relation's join table (`joinTableModelClass`, left out of the typings). */
export function joinTableModelClassOf<M>(relation: object): M | undefined {
  return ((relation as { joinTableModelClass?: M | null }).joinTableModelClass ?? undefined) as M | undefined;
}

/**
 * Undocumented Objection methods the cache overrides, calling the original: `childQueryOf` (a relation's query
 * inherits `cache()` from the query that loads it), `subqueryOf` (a query used inside another sets up its model
 * first) on QueryBuilder, and the static `getRelationUnsafe` (every relation resolves through it) on Model.
 */
export const OVERRIDDEN_BUILDER_METHODS = ['childQueryOf', 'subqueryOf'] as const;
export const OVERRIDDEN_MODEL_STATICS = ['getRelationUnsafe'] as const;

/** The implementation of `name` that `target` (a prototype, or a class for statics) inherits. */
export function inherited<F extends (...args: never[]) => unknown>(target: object, name: string): F {
  const method = Reflect.get(target, name) as F | undefined;
  if (typeof method !== 'function') throw new Error(`objection-cache: Objection has no ${name}; this Objection version is not supported`);
  return method;
}

/* ----------------------------------------------------------------------------------------------- Keyv */

/**
 * What the native Redis driver needs of a node-redis client (`@redis/client` 5, single node or cluster): the
 * commands it sends, and `duplicate` for the local tier's tracking connection.
 */
export interface NodeRedisClient {
  mGet(keys: string[]): Promise<(string | null)[]>;
  /**
   * A command as given (node-redis's public API for any command). A single node's: a cluster's takes the first
   * key and a read-only flag first, so the driver sends through this only to a single node.
   */
  sendCommand(args: string[]): Promise<unknown>;
  set(key: string, value: string, options?: { PX?: number; NX?: boolean; GET?: boolean }): Promise<unknown>;
  unlink(keys: string[]): Promise<number>;
  duplicate(overrides: object): NodeRedisClient;
  connect(): Promise<unknown>;
  close?(): Promise<unknown>;
  destroy?(): void;
  unref?(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly isOpen?: boolean;
  readonly isReady?: boolean;
  /** Options it was made with (node-redis keeps them; a cluster keeps `rootNodes` and `defaults`). */
  readonly options?: { readonly RESP?: number };
}

/** What the Redis driver needs of `@keyv/redis`'s adapter. */
export interface KeyvRedisAdapter {
  readonly namespace?: string;
  /** What `createKeyPrefix` puts between the namespace and the key. */
  readonly keyPrefixSeparator?: string;
  /** The node-redis client (or cluster), connected or not: `getClient` connects it when it is not open. */
  readonly client: NodeRedisClient;
  getClient(): Promise<NodeRedisClient>;
  createKeyPrefix(key: string, namespace?: string): string;
  isCluster(): boolean;
}

/**
 * The adapter's client, at once when it is open (as `getClient` itself answers then, but without its two promise
 * turns on every call); otherwise `getClient`, which connects it.
 */
export function adapterClient(adapter: KeyvRedisAdapter): NodeRedisClient | Promise<NodeRedisClient> {
  const client = adapter.client;
  return client.isOpen === true ? client : adapter.getClient();
}

/** A Keyv over `@keyv/redis`, as the Redis driver uses it. */
export interface KeyvRedis {
  readonly adapter: KeyvRedisAdapter;
  /** Keys as stored in Redis: Keyv's prefix (`_getKeyPrefixArray`), then the adapter's namespace. */
  storedKeys(keys: readonly string[]): string[];
  /** What `storedKeys` puts before every key (Keyv's prefix and the adapter's namespace). */
  readonly storedPrefix: string;
  /** Announces a deletion to Keyv's `preDelete` hooks, as Keyv's own `delete` and `deleteMany` do. */
  announceDelete(keys: readonly string[]): void;
}

/**
 * A Keyv over `@keyv/redis`, or undefined for any other store (or one that compresses: its values are not ours
 * to read natively). Keyv has no public way to send native commands, nor to read many keys without a promise
 * and a deserialization per key: the Redis driver reaches the adapter's node-redis client (`getClient`) and
 * prefixes keys the way Keyv's own calls do (Keyv's `_getKeyPrefixArray`, the adapter's `createKeyPrefix`).
 */
export function keyvRedisOf(keyv: object): KeyvRedis | undefined {
  const internals = keyv as {
    store?: Partial<KeyvRedisAdapter>;
    compression?: unknown;
    _getKeyPrefixArray?(keys: string[]): string[];
    hooks?: { trigger(event: string, data: unknown): void };
  };
  const adapter = internals.store;
  const prefixArray = internals._getKeyPrefixArray;
  if (
    !adapter ||
    typeof adapter.getClient !== 'function' ||
    typeof adapter.createKeyPrefix !== 'function' ||
    typeof adapter.isCluster !== 'function' ||
    typeof prefixArray !== 'function' ||
    internals.compression
  )
    return undefined;
  const redis = adapter as KeyvRedisAdapter;
  const inputs = keyv as { namespace?: unknown; useKeyPrefix?: unknown };
  // the prefix, and what it was made of: Keyv's namespace and key-prefix switch, the adapter's namespace and separator
  let prefix: { readonly of: readonly unknown[]; readonly value: string } | undefined;
  return {
    adapter: redis,
    storedKeys(keys) {
      return prefixArray.call(keyv, [...keys]).map((key) => redis.createKeyPrefix(key, redis.namespace));
    },
    get storedPrefix() {
      // read on every hit: made again only when one of its inputs changed (an app may set a namespace any time)
      const of = prefix?.of;
      if (!of || of[0] !== inputs.namespace || of[1] !== inputs.useKeyPrefix || of[2] !== redis.namespace || of[3] !== redis.keyPrefixSeparator) {
        const value = redis.createKeyPrefix(prefixArray.call(keyv, [''])[0]!, redis.namespace);
        prefix = { of: [inputs.namespace, inputs.useKeyPrefix, redis.namespace, redis.keyPrefixSeparator], value };
      }
      return prefix!.value;
    },
    announceDelete(keys) {
      const keyvKeys = prefixArray.call(keyv, [...keys]);
      internals.hooks?.trigger('preDelete', { key: keyvKeys.length === 1 ? keyvKeys[0] : keyvKeys });
    },
  };
}

/**
 * How Keyv (5.x, `src/index.ts` `set`) keeps an entry in a Map store when it serializes nothing: `{ value,
 * expires }`. Keyv reads such an object back as it is, serializer or not (`get`: only strings are deserialized),
 * so the memory driver reads and writes a Keyv's Map in that format, skipping Keyv's promise per key.
 */
export interface KeyvMapEntry {
  readonly value: unknown;
  readonly expires?: number;
}

/** A Keyv whose store is a `Map`, and the prefix Keyv puts before every key there. */
export interface KeyvMap {
  readonly map: Map<string, unknown>;
  readonly prefix: string;
}

/**
 * The Map behind a Keyv (a plain `new Keyv()`, or `new Keyv({ store: new Map() })`), unless it compresses.
 * Keyv's prefix (`_getKeyPrefix`: `namespace:` when `useKeyPrefix` and a namespace are set) is read once.
 */
export function keyvMapOf(keyv: object): KeyvMap | undefined {
  const internals = keyv as { store?: unknown; compression?: unknown };
  if (!(internals.store instanceof Map) || internals.compression) return undefined;
  return { map: internals.store as Map<string, unknown>, prefix: keyvPrefixOf(keyv) };
}

/** A store adapter as Keyv calls it: `get`, and `getMany` where it has one. */
export interface KeyvStoreAdapter {
  get(key: string): unknown;
  getMany?(keys: string[]): Promise<unknown[]>;
}

/**
 * The store adapter behind a Keyv, for reads, when Keyv would read its answers as the cache can: no compression,
 * Keyv's own deserializer (`@keyv/serialize`, found as a fresh Keyv's default) and Keyv's own `getMany`. Keyv's
 * `getMany` over an adapter without `getMany` awaits a `get` and a JSON revival per key, three per lookup here;
 * `get` and `getMany` are the adapter's public API (`readAdapter`), the keys prefixed as Keyv does
 * (`keyvPrefixOf`). Keyv's read hooks and statistics are skipped, as for Redis.
 */
export function keyvAdapterOf(keyv: object): KeyvStoreAdapter | undefined {
  const internals = keyv as { store?: Partial<KeyvStoreAdapter>; compression?: unknown; deserialize?: unknown };
  const store = internals.store;
  if (!store || store instanceof Map || typeof store.get !== 'function' || internals.compression) return undefined;
  // a Keyv whose own getMany the app replaced (a subclass, an instrumented instance) is asking to be called
  if (internals.deserialize !== keyvDefaultDeserialize() || (keyv as Keyv).getMany !== Keyv.prototype.getMany) return undefined;
  return store as KeyvStoreAdapter;
}

/** The adapter's raw answers for stored keys: at once where its `get` answers at once, else a promise. */
export function readAdapter(adapter: KeyvStoreAdapter, stored: readonly string[]): unknown[] | Promise<unknown[]> {
  if (adapter.getMany) return adapter.getMany([...stored]);
  const answers = stored.map((key) => adapter.get(key));
  return answers.some((answer) => answer instanceof Promise) ? Promise.all(answers) : answers;
}

/** What Keyv puts before every key it hands its store (`_getKeyPrefix`: `namespace:` under `useKeyPrefix`). */
export function keyvPrefixOf(keyv: object): string {
  const { namespace, useKeyPrefix } = keyv as { namespace?: string; useKeyPrefix?: boolean };
  return useKeyPrefix !== false && namespace ? `${namespace}:` : '';
}

let defaultDeserialize: unknown;

/** The deserializer a Keyv gets when the app gives none (`@keyv/serialize`'s, which Keyv does not re-export). */
function keyvDefaultDeserialize(): unknown {
  return (defaultDeserialize ??= new Keyv().deserialize);
}

/** What Keyv reads from an entry as its store holds it: a serialized envelope, or a `{ value, expires }` object. */
export function keyvEntryValue(entry: unknown, now: number): unknown {
  if (typeof entry === 'string') return fromKeyvEnvelope(entry, now);
  if (entry === null || typeof entry !== 'object') return undefined;
  const { value, expires } = entry as KeyvMapEntry;
  return expires === undefined || expires >= now ? value : undefined;
}

/**
 * Keyv's envelope for a string value, as `@keyv/serialize` 1.x writes it (`{"value":…,"expires":…}`, expires left
 * out when there is none, a string starting with `:` escaped as `::`) and reads it back. Values written natively
 * to Redis keep it, so that Keyv, and releases that read through Keyv, read them as their own.
 */
export function toKeyvEnvelope(value: string, expires: number | undefined): string {
  const escaped = value.startsWith(':') ? `:${value}` : value;
  return expires === undefined ? `{"value":${JSON.stringify(escaped)}}` : `{"value":${JSON.stringify(escaped)},"expires":${expires}}`;
}

/** The value of a Keyv envelope, or undefined if it is none, has expired or holds no string. */
export function fromKeyvEnvelope(raw: unknown, now: number): string | undefined {
  const envelope = openKeyvEnvelope(raw);
  return envelope && unexpired(envelope, now);
}

/** What a Keyv envelope holding a string holds: the string, and when it expires (ms since the epoch). */
export interface KeyvEnvelope {
  readonly value: string;
  readonly expires: number | undefined;
}

/** The envelope's value unless it has expired by `now`. */
export function unexpired(envelope: KeyvEnvelope, now: number): string | undefined {
  return envelope.expires === undefined || now <= envelope.expires ? envelope.value : undefined;
}

/** A Keyv envelope's string and expiry, or undefined if it is none or holds no string (a Buffer, an object). */
export function openKeyvEnvelope(raw: unknown): KeyvEnvelope | undefined {
  if (typeof raw !== 'string' || !raw.startsWith('{')) return undefined;
  const plain = plainEnvelope(raw);
  if (plain !== undefined) return plain;
  let parsed: { value?: unknown; expires?: unknown };
  try {
    parsed = JSON.parse(raw) as { value?: unknown; expires?: unknown };
  } catch {
    return undefined;
  }
  const { value, expires } = parsed;
  if (typeof value !== 'string' || (value.startsWith(':') && value.startsWith(':base64:'))) return undefined;
  return { value: value.startsWith(':') ? value.slice(1) : value, expires: typeof expires === 'number' ? expires : undefined };
}

const VALUE_OPENING = '{"value":"';

/**
 * A token's envelope read without JSON.parse (a third of a Redis hit's decoding): `{"value":"T"}` or
 * `{"value":"T","expires":N}` where T has no escape and no Keyv `:` escape (tokens are base64url). Undefined for
 * anything else (an entry's record, whose newlines JSON escapes), which JSON.parse reads.
 */
function plainEnvelope(raw: string): KeyvEnvelope | undefined {
  if (!raw.startsWith(VALUE_OPENING)) return undefined;
  const end = raw.indexOf('"', VALUE_OPENING.length);
  if (end < 0 || raw.lastIndexOf('\\', end) >= VALUE_OPENING.length) return undefined;
  let expires: number | undefined;
  if (raw.length === end + 2 && raw[end + 1] === '}') expires = undefined;
  else if (raw.startsWith('","expires":', end) && raw.endsWith('}')) expires = Number(raw.slice(end + 12, -1));
  else return undefined;
  if (Number.isNaN(expires)) return undefined;
  const value = raw.slice(VALUE_OPENING.length, end);
  return value.startsWith(':') ? undefined : { value, expires };
}

/**
 * The hooks node-redis 5 (`@redis/client`, `lib/client/cache.ts`) calls on a client-side cache provider given as
 * `clientSideCache`: `trackingOn` for the command each connection sends in its handshake (CLIENT TRACKING ON, so
 * on every reconnect too), `invalidate` for each key of an `invalidate` push (null: all keys), `onError` /
 * `onClose` when a connection breaks or closes, `clear` / `disable` / `enable` around a cluster's rediscovery,
 * and `handleCache` for each cacheable read command. A single client and a cluster accept a subclass of
 * `BasicPooledClientSideCache` alike; node-redis has no other way to hear invalidations of every node of a cluster.
 */
export interface ClientSideCacheHooks {
  invalidate(key: unknown): void;
  clear(resetStats?: boolean): void;
  onError(): void;
  onClose(): void;
  disable(): void;
  enable(): void;
  handleCache(client: unknown, parser: unknown, fn: () => Promise<unknown>, transformReply?: unknown, typeMapping?: unknown): Promise<unknown>;
}

/**
 * `BasicPooledClientSideCache` of the `@redis/client` that `@keyv/redis` uses (resolved from `@keyv/redis`'s own
 * location: node-redis checks `instanceof` against its own copy), or undefined when it cannot be found.
 */
export function clientSideCacheBase(): (new (config?: object) => ClientSideCacheHooks) | undefined {
  try {
    const require = createRequire(import.meta.url);
    let adapterRequire: NodeJS.Require = require;
    try {
      adapterRequire = createRequire(require.resolve('@keyv/redis'));
    } catch {
      // no @keyv/redis beside us: the @redis/client we can see is the only candidate
    }
    const redisClient = adapterRequire('@redis/client') as { BasicPooledClientSideCache?: new (config?: object) => ClientSideCacheHooks };
    return typeof redisClient.BasicPooledClientSideCache === 'function' ? redisClient.BasicPooledClientSideCache : undefined;
  } catch {
    return undefined;
  }
}

/** The provider a node-redis client or cluster ended up with (its `clientSideCache` getter). */
export function clientSideCacheOf(client: object): unknown {
  return (client as { clientSideCache?: unknown }).clientSideCache;
}
