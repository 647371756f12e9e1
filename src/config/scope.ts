import type { Knex } from 'knex';
import { resolve } from 'node:path';
import { clientOf, type KnexClient, type KnexConfig } from '../core/internals.js';
import type { CacheScope } from '../core/public-types.js';

/** True for a knex transaction (`knex.transaction()`, `Model.transaction()`, the classes bound to one). */
export function isTransaction(knex: unknown): boolean {
  return Boolean(knex && (knex as { isTransaction?: boolean }).isTransaction);
}

const derivedByConfig = new WeakMap<object, string>();
const namedByFunction = new WeakMap<(knex: Knex) => string, WeakMap<object, string>>();
/** What a scope function named, by the client of the knex it was given: for statements, which see only a client. */
const namedByClient = new WeakMap<(knex: Knex) => string, WeakMap<object, string>>();
let privateDatabases = 0;

/**
 * The scope name of `knex`: the app's `option` where it gave one, else one derived from the connection settings.
 * Throws a TypeError naming the model where neither can be had.
 */
export function scopeOf(knex: Knex, option: CacheScope | undefined, modelName: string): string {
  if (typeof option === 'string') return `name:${option}`;
  if (typeof option === 'function') return `name:${named(knex, option, modelName)}`;
  const client = clientOf(knex);
  const config = client?.config;
  if (!config || typeof config !== 'object') {
    throw new TypeError(`${modelName}: cannot tell which database this knex connects to (it has no client config); set the cache option \`scope\``);
  }
  let scope = derivedByConfig.get(config);
  if (scope === undefined) derivedByConfig.set(config, (scope = `db:${derive(client!, config, modelName)}`));
  return scope;
}

function named(knex: Knex, option: (knex: Knex) => string, modelName: string): string {
  let byKnex = namedByFunction.get(option);
  if (!byKnex) namedByFunction.set(option, (byKnex = new WeakMap()));
  let name = byKnex.get(knex);
  if (name === undefined) {
    const given: unknown = option(knex);
    if (typeof given !== 'string' || given === '') {
      throw new TypeError(`${modelName}: the cache option \`scope\` must return a non-empty string, got ${given === null ? 'null' : typeof given}`);
    }
    byKnex.set(knex, (name = given));
    let byClient = namedByClient.get(option);
    if (!byClient) namedByClient.set(option, (byClient = new WeakMap()));
    const client = clientOf(knex);
    if (client) byClient.set(client, name);
  }
  return name;
}

/**
 * The scope of the database a knex client (of a knex instance or a transaction) runs on, for a statement that
 * shows only its client; undefined where it cannot be told: a scope function never called with a knex of this
 * client, or a connection given as a function.
 */
export function clientScope(client: object, option: CacheScope | undefined): string | undefined {
  if (typeof option === 'string') return `name:${option}`;
  if (typeof option === 'function') {
    const name = namedByClient.get(option)?.get(client);
    return name === undefined ? undefined : `name:${name}`;
  }
  try {
    return scopeOf({ client } as unknown as Knex, undefined, 'objection-cache');
  } catch {
    return undefined;
  }
}

const DEFAULT_PORTS: Record<string, string> = { postgres: '5432', mysql: '3306', mssql: '1433' };

/** The dialect family: drivers for one kind of server read the same databases. */
function family(client: KnexClient, config: KnexConfig): string {
  const name = String(client.dialect ?? client.driverName ?? config.client ?? 'unknown');
  if (/sqlite/i.test(name)) return 'sqlite';
  if (/^(pg|postgres)/i.test(name)) return 'postgres';
  if (/mysql|maria/i.test(name)) return 'mysql';
  return name;
}

/**
 * The settings that select the data, as one string: dialect family, host, port, database (PostgreSQL's default:
 * the user name), SQLite file (as an absolute path), socket, and PostgreSQL's `searchPath` and `options`.
 * Credentials are left out: two users of one database read the same rows. An in-memory SQLite database is
 * private to its knex instance, and so is its scope.
 */
function derive(client: KnexClient, config: KnexConfig, modelName: string): string {
  const dialect = family(client, config);
  const connection = config.connection;
  if (typeof connection === 'function') {
    throw new TypeError(
      `${modelName}: this knex takes its connection settings from a function, so the cache cannot tell which database it reads; set the cache option \`scope\``,
    );
  }
  const parts: Record<string, string> = { dialect };
  if (typeof connection === 'string') Object.assign(parts, dialect === 'sqlite' ? { filename: connection } : fromUrl(connection, dialect));
  else if (connection && typeof connection === 'object') Object.assign(parts, fromObject(connection as Record<string, unknown>, dialect));
  if (parts.filename !== undefined) {
    if (parts.filename === '' || parts.filename === ':memory:') parts.filename = `:memory:#${++privateDatabases}`;
    else if (!/^file:/.test(parts.filename)) parts.filename = resolve(parts.filename);
  }
  // Left out, host and port are the driver's defaults: spelled out or not, they name one server.
  if (DEFAULT_PORTS[dialect] && parts.connection === undefined && parts.socketPath === undefined) {
    parts.host ??= 'localhost';
    parts.port ??= DEFAULT_PORTS[dialect];
  }
  if (config.searchPath !== undefined && config.searchPath !== null) parts.searchPath = String(config.searchPath);
  return JSON.stringify(
    Object.keys(parts)
      .sort()
      .map((name) => [name, parts[name]]),
  );
}

const SELECTING = ['host', 'server', 'port', 'socketPath', 'database', 'filename', 'connectString', 'instanceName'] as const;

function fromObject(connection: Record<string, unknown>, dialect: string): Record<string, string> {
  if (typeof connection.connectionString === 'string') return fromUrl(connection.connectionString, dialect);
  const parts: Record<string, string> = {};
  for (const name of SELECTING) {
    const value = connection[name];
    if (value !== undefined && value !== null && value !== '') parts[name] = String(value);
  }
  // PostgreSQL's `options` can set the search_path (`-c search_path=tenant_a`).
  if (typeof connection.options === 'string') parts.options = connection.options;
  if (dialect === 'postgres' && parts.database === undefined && typeof connection.user === 'string') parts.database = connection.user;
  return parts;
}

/** A connection URL without its credentials; a string that is no URL is kept whole, less any password in it. */
function fromUrl(text: string, dialect: string): Record<string, string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { connection: text.replace(/password\s*=\s*\S*/gi, '') };
  }
  const parts: Record<string, string> = {};
  if (url.hostname) parts.host = decodeURIComponent(url.hostname);
  if (url.port) parts.port = url.port;
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) parts.database = database;
  else if (dialect === 'postgres' && url.username) parts.database = decodeURIComponent(url.username);
  const params = [...url.searchParams].filter(([name]) => !/password|^ssl|^user$/i.test(name)).sort();
  if (params.length > 0) parts.params = JSON.stringify(params);
  return parts;
}
