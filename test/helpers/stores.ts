import type { ExecutionContext, TestFn } from 'ava';
import KeyvRedis from '@keyv/redis';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Keyv from 'keyv';
import { promisify } from 'node:util';
import { CountingKeyv } from './counting-keyv.js';
import { stopMariaDb, stopPostgres, type DbKind } from './databases.js';
import { startRedis, type RedisServer } from './redis.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

/**
 * Where a test's cache lives: a (counting) in-memory Keyv, one redis-server, or a three-master Redis Cluster;
 * `local` is the library's own memory store, which the cache reads synchronously (no store calls to count).
 */
export type StoreKind = 'memory' | 'redis' | 'cluster' | 'local';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'redis', 'cluster'];

let redis: Promise<RedisServer> | undefined;
let cluster: Promise<RedisCluster> | undefined;

/**
 * Registers this test file's server teardown; servers start on first use, one of each kind per file (per
 * process), and every test gets its own Keyv namespace in them, so tests stay apart.
 */
export function useStores(test: TestFn): void {
  test.after.always(async () => {
    await (await redis)?.stop();
    await (await cluster)?.stop();
    await stopPostgres();
    await stopMariaDb();
  });
}

export function redisServer(): Promise<RedisServer> {
  return (redis ??= startRedis());
}

export function redisCluster(): Promise<RedisCluster> {
  return (cluster ??= startRedisCluster());
}

/** A counting Keyv of the given kind, disconnected when the test ends. */
export async function makeStore(t: ExecutionContext, kind: StoreKind, namespace = `t${randomBytes(4).toString('hex')}`): Promise<CountingKeyv> {
  if (kind === 'memory') return new CountingKeyv();
  if (kind === 'local') throw new Error('the local store is made with createMemoryStore(), not through makeStore()');
  const adapter =
    kind === 'redis' ? new KeyvRedis((await redisServer()).url) : new KeyvRedis({ rootNodes: (await redisCluster()).urls.map((url) => ({ url })) });
  // Connect before the first command: @keyv/redis connects lazily, and concurrent first commands race to connect.
  await adapter.getClient();
  const store = new CountingKeyv(adapter, { namespace });
  t.teardown(() => store.disconnect());
  return store;
}

/**
 * Two store clients over one backing store, standing for two processes on one Redis: separate flights, shared
 * entries. On memory, two Keyv over one Map; on Redis, two connections with one namespace.
 */
export async function twoProcessStores(t: ExecutionContext, kind: StoreKind): Promise<[CountingKeyv, Keyv]> {
  if (kind === 'memory') {
    const shared = new Map();
    return [new CountingKeyv({ store: shared }), new Keyv({ store: shared })];
  }
  const namespace = `shared${randomBytes(3).toString('hex')}`;
  return [await makeStore(t, kind, namespace), await makeStore(t, kind, namespace)];
}

/** A store and a database for one run of a test body. */
export interface Setup {
  readonly store: StoreKind;
  readonly db: DbKind;
}

/** Behaviour tests: every store, on SQLite. */
export const STORE_SETUPS: readonly Setup[] = STORE_KINDS.map((store) => ({ store, db: 'sqlite' }));

/**
 * Consistency tests (write paths, transactions, the refill race, the property test, composite keys, lists) also
 * run on PostgreSQL, with memory and Redis, and on MariaDB (MySQL's collations and dialect) with memory.
 */
export const CONSISTENCY_SETUPS: readonly Setup[] = [
  ...STORE_SETUPS,
  { store: 'memory', db: 'postgres' },
  { store: 'redis', db: 'postgres' },
  { store: 'memory', db: 'mysql' },
];

/** Registers `body` once per setup, the setup in the title. */
export function forEachStore(
  test: TestFn,
  title: string,
  body: (t: ExecutionContext, kind: StoreKind, db: DbKind) => Promise<void>,
  setups: readonly Setup[] = STORE_SETUPS,
): void {
  for (const { store, db } of setups) {
    test(`${title} [${db === 'sqlite' ? store : `${store}, ${db}`}]`, (t) => body(t, store, db));
  }
}

/** Every key the store holds for this test, as the server sees it (Keyv's namespace included). */
export async function storedKeys(store: CountingKeyv, kind: StoreKind): Promise<string[]> {
  if (kind === 'memory') return [...(store.store as Map<string, unknown>).keys()];
  const ports = kind === 'redis' ? [(await redisServer()).port] : (await redisCluster()).ports;
  const keys: string[] = [];
  for (const port of ports) {
    const { stdout } = await promisify(execFile)('redis-cli', ['-p', String(port), '--scan', '--pattern', `${store.namespace}:*`], {
      maxBuffer: 1 << 28,
    });
    keys.push(...stdout.split('\n').filter(Boolean));
  }
  return keys;
}

/** `forEachStore` over CONSISTENCY_SETUPS: every store on SQLite, and PostgreSQL with memory and Redis. */
export function forEachSetup(test: TestFn, title: string, body: (t: ExecutionContext, kind: StoreKind, db: DbKind) => Promise<void>): void {
  forEachStore(test, title, body, CONSISTENCY_SETUPS);
}
