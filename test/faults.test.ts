import test from 'ava';
import KeyvRedis from '@keyv/redis';
import { CountingKeyv } from './helpers/counting-keyv.js';
import { makeFixture, makePostClass } from './helpers/fixture.js';
import { twoConnections } from './helpers/two-connections.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import knexPkg from 'knex';
import { promisify } from 'node:util';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

// Redis becomes unreachable under two processes (two clients, one namespace) sharing it: reads fall back to the
// DB within the store timeout, writes succeed, errors reach onError, and once Redis is back no stale entry is
// served: the writer's failed flush is kept and delivered before that process reads from the cache again.

const TIMEOUT = 300;

async function twoProcesses(t: import('ava').ExecutionContext, redis: RedisServer) {
  // Two knex instances on one SQLite file, one per process: a process sees its own writes only. In one process the
  // cache would find every knex on a database it caches and flush through each store (raw-writes.ts); B opens the
  // file through a symlink, so the two look like two databases to that watch, while the app-named scope keeps
  // their entries shared, as two processes' are.
  const s = await twoConnections(t);
  const link = join(mkdtempSync(join(tmpdir(), 'objection-cache-link-')), 'db.sqlite');
  symlinkSync(s.file!, link);
  const readerKnex = knexPkg({ client: 'better-sqlite3', connection: { filename: link }, useNullAsDefault: true });
  t.teardown(async () => {
    await readerKnex.destroy();
    rmSync(dirname(link), { recursive: true, force: true });
  });
  const queries: string[] = [];
  for (const knex of [s.writerKnex, readerKnex]) knex.on('query', (q: { sql: string }) => queries.push(q.sql));
  const f = {
    knex: s.writerKnex,
    reset: () => void (queries.length = 0),
    selects: () => queries.filter((sql) => /^\s*select/i.test(sql)),
  };
  const errors: string[] = [];
  const clients: KeyvRedis<unknown>[] = [];
  const connect = async () => {
    const adapter = new KeyvRedis(redis.url);
    await adapter.getClient();
    clients.push(adapter);
    const store = new CountingKeyv(adapter, { namespace: 'faults' });
    t.teardown(() => store.disconnect().catch(() => undefined));
    return store;
  };
  const storeA = await connect();
  const storeB = await connect();
  const scope = 'one-database';
  const A = makePostClass(storeA, { scope, timeout: TIMEOUT, onError: (error, c) => errors.push(`A ${c.operation}: ${String(error)}`) });
  const B = makePostClass(storeB, { scope, timeout: TIMEOUT, onError: (error, c) => errors.push(`B ${c.operation}: ${String(error)}`) });
  A.knex(s.writerKnex);
  B.knex(readerKnex);
  return { f, A, B, storeA, storeB, errors, clients };
}

test.serial('Redis paused (SIGSTOP): reads fall back to the DB, writes succeed, nothing stale after SIGCONT', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, B, storeA, storeB, errors } = await twoProcesses(t, redis);
  t.is((await A.get('post-1'))?.title, 'Title 1');
  t.is((await B.get('post-1'))?.title, 'Title 1'); // both processes have it cached
  f.reset();

  process.kill(redis.process.pid!, 'SIGSTOP');
  t.teardown(() => void process.kill(redis.process.pid!, 'SIGCONT'));
  t.is((await A.get('post-1'))?.title, 'Title 1', 'served by the DB');
  t.deepEqual(errors, ['A getMany: Error: store getMany timed out after 300 ms']);
  const post = (await A.query().findById(1))!;
  post.title = 'written during the outage';
  await post.save(); // A's breaker is open: the flush is kept pending at once, without waiting out a timeout
  t.is((await f.knex('posts').where('id', 1).first()).title, 'written during the outage');
  t.is((await A.get('post-1'))?.title, 'written during the outage', 'A reads the DB while its flush is pending');
  t.is((await B.get('post-1'))?.title, 'written during the outage', 'B cannot reach Redis either: the DB answers');
  t.deepEqual(
    errors.filter((e) => e.startsWith('A ')),
    ['A getMany: Error: store getMany timed out after 300 ms'],
    'A waited out one timeout in all',
  );

  process.kill(redis.process.pid!, 'SIGCONT');
  // Until a background check gets through, each process answers from the DB; A's check delivers its flush.
  await storeA.untilServed(async () => t.is((await A.get('post-1'))?.title, 'written during the outage', 'A'));
  await storeB.untilServed(async () => t.is((await B.get('post-1'))?.title, 'written during the outage', 'B never sees the entry from before the outage'));
  f.reset();
  t.is((await B.get('post-1'))?.title, 'written during the outage');
  t.is((await A.get('post-1'))?.title, 'written during the outage');
  t.is(f.selects().length, 0, 'and the cache works again');
});

test.serial('Redis killed and restarted: reads fall back, writes succeed, the pending flush lands after reconnect', async (t) => {
  const redis = await startRedis();
  const { f, A, B, storeA, storeB, errors, clients } = await twoProcesses(t, redis);
  await A.getMany(['post-1', 'post-2']);
  await B.getMany(['post-1', 'post-2']);

  await redis.stop();
  t.is((await A.get('post-2'))?.title, 'Title 2', 'served by the DB');
  await A.query().patch({ title: 'while Redis was down' }).where('id', 2);
  t.is((await B.get('post-2'))?.title, 'while Redis was down');
  t.true(errors.length > 0);

  const reconnected = clients.map((client) => new Promise<void>((resolve) => client.once('connect', () => resolve())));
  const restarted = await startRedis([], redis.port);
  t.teardown(() => restarted.stop());
  await Promise.all(reconnected);
  await storeA.untilServed(async () => t.is((await A.get('post-2'))?.title, 'while Redis was down'));
  await storeB.untilServed(async () => t.is((await B.get('post-2'))?.title, 'while Redis was down'));
  f.reset();
  t.is((await B.get('post-2'))?.title, 'while Redis was down');
  t.is(f.selects().length, 0, 'cached again');
});

test('a flush that failed is retried on its own, without waiting for a read', async (t) => {
  const f = await makeFixture(t, { onError: () => undefined });
  await f.Post.get('post-1');
  f.store.failing = true;
  await f.Post.query().patch({ title: 'x' }).where('id', 1);
  const failedCalls = f.store.calls.deleteMany ?? 0;
  f.store.failing = false;
  await f.store.nextDeleteMany(); // the retry timer fires by itself
  t.true(f.store.calls.deleteMany! > failedCalls);
  f.reset();
  t.is((await f.Post.get('post-1'))?.title, 'x');
  t.is(f.store.calls.getMany, 1, 'nothing pending any more: the cache is read again');
});

test.serial('a writer cut off from a Redis that keeps its data: the flush is delivered when it can reach it again', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, B, storeA } = await twoProcesses(t, redis);
  await B.get('post-3');
  storeA.failing = true; // A's link to Redis is down; B's is fine, and Redis keeps B's entry
  await A.query().patch({ title: 'A wrote this' }).where('id', 3);
  t.is((await A.get('post-3'))?.title, 'A wrote this', 'A serves nothing from the cache while its flush is pending');
  t.is((await B.get('post-3'))?.title, 'Title 3', 'the documented window: until A gets through, B still has the old entry');
  storeA.failing = false;
  // A gets through once its check does: its pending flush goes first
  await storeA.untilServed(async () => t.is((await A.get('post-3'))?.title, 'A wrote this'));
  t.is((await B.get('post-3'))?.title, 'A wrote this');
  t.is((await f.knex('posts').where('id', 3).first()).title, 'A wrote this');
});

test.serial('during an outage one lookup waits out the timeout; the others go straight to the DB until a check gets through', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, storeA: store, errors } = await twoProcesses(t, redis);
  await A.get('post-1');
  process.kill(redis.process.pid!, 'SIGSTOP');
  t.teardown(() => void process.kill(redis.process.pid!, 'SIGCONT'));
  t.is((await A.get('post-1'))?.title, 'Title 1'); // times out: the breaker opens
  store.resetCounts();
  f.reset();
  const slugs = ['post-1', 'post-2', 'post-3', 'nope', 'post-2'];
  const rows = await Promise.all(slugs.map((slug) => A.get(slug)));
  t.deepEqual(
    rows.map((row) => row?.slug),
    ['post-1', 'post-2', 'post-3', undefined, 'post-2'],
  );
  for (const slug of slugs) t.is((await A.get(slug))?.slug, slug === 'nope' ? undefined : slug, 'one after another too');
  t.is(store.calls.getMany, undefined, 'no lookup reached the store: none waited for it');
  t.is(store.calls.setMany, undefined, 'and none tried to fill it');
  t.is(f.selects().length, 1 + slugs.length, 'the DB answered each: the concurrent lookups in one query (batched in their tick), then one each');
  t.is(errors.length, 1, 'one timeout in all (the background checks fail quietly)');
  process.kill(redis.process.pid!, 'SIGCONT');
  await store.untilServed(async () => t.is((await A.get('post-1'))?.title, 'Title 1'));
  store.resetCounts();
  f.reset();
  t.is((await A.get('post-1'))?.title, 'Title 1');
  t.is(f.selects().length, 0, 'the check closed the breaker: the cache serves again');
  t.is(store.calls.getMany, 1);
});

test('after one failure the store is left alone: lookups go to the DB, checks fail quietly, and the first check that gets through reopens the cache', async (t) => {
  const errors: string[] = [];
  const f = await makeFixture(t, { onError: (error, c) => errors.push(`${c.operation}: ${String(error)}`) });
  await f.Post.get('post-1');
  f.store.failing = true;
  t.is((await f.Post.get('post-1'))?.slug, 'post-1', 'the failed read is answered by the DB');
  f.store.resetCounts();
  f.reset();
  await f.store.nextGet(); // a background check, failing
  await f.store.nextGet(); // and the next, after a longer wait
  t.is(f.store.calls.get, 2, 'two checks, one at a time');
  for (const slug of ['post-1', 'post-2', 'post-1']) t.is((await f.Post.get(slug))?.slug, slug);
  await f.Post.query().patch({ title: 'while the store was down' }).where('id', 2);
  t.is(f.store.calls.getMany, undefined, 'no lookup tried the store');
  t.is(f.store.calls.deleteMany, undefined, 'nor the flush: it is kept pending');
  t.is(f.selects().filter((sql) => /where `slug` in/.test(sql)).length, 3, 'the DB answered each lookup');
  t.deepEqual(errors, ['getMany: Error: store down (getMany)'], 'only the failure that opened the breaker is reported');
  f.store.failing = false;
  await f.store.untilServed(async () => t.is((await f.Post.get('post-2'))?.title, 'while the store was down'));
  t.is(f.store.keysDeleted.length, 1, 'the pending flush went first, in one call');
  f.reset();
  t.is((await f.Post.get('post-2'))?.title, 'while the store was down');
  t.is(f.selects().length, 0, 'cached again');
});

/** The index, in `cluster.processes`, of the master that holds `key`'s slot. */
async function masterOf(cluster: RedisCluster, key: string): Promise<number> {
  const cli = (...args: string[]) => promisify(execFile)('redis-cli', ['-p', String(cluster.ports[0]), ...args]);
  const slot = Number((await cli('cluster', 'keyslot', key)).stdout.trim());
  for (const line of (await cli('cluster', 'nodes')).stdout.trim().split('\n')) {
    const fields = line.split(' ');
    const port = Number(/:(\d+)@/.exec(fields[1]!)![1]);
    for (const range of fields.slice(8)) {
      const [from, to = from] = range.split('-').map(Number);
      if (slot >= from! && slot <= to!) return cluster.ports.indexOf(port);
    }
  }
  throw new Error(`no master holds slot ${slot}`);
}

test.serial('on a Redis Cluster with one master paused, the check asks that master: the cache stays bypassed until it answers', async (t) => {
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const adapter = new KeyvRedis({ rootNodes: cluster.urls.map((url) => ({ url })) });
  await adapter.getClient();
  // A named scope fixes the model's hash tag; a namespace is picked that puts the key a check would read with no
  // key of its own on another master than the model's, so a check of that fixed key would pass on a healthy one.
  const tag = '{oc:=faults:posts}';
  let namespace = 'half';
  for (let i = 0; (await masterOf(cluster, `${namespace}:objection-cache:check`)) === (await masterOf(cluster, tag)); i++) namespace = `half${i}`;
  const store = new CountingKeyv(adapter, { namespace });
  t.teardown(() => store.disconnect().catch(() => undefined));
  const f = await makeFixture(t);
  const errors: string[] = [];
  const Post = makePostClass(store, { timeout: TIMEOUT, scope: 'faults', onError: (error, c) => errors.push(`${c.operation}: ${String(error)}`) });
  Post.knex(f.knex);
  await Post.get('post-1');

  const posts = cluster.processes[await masterOf(cluster, tag)]!; // every key of the model is on it
  posts.kill('SIGSTOP');
  t.teardown(() => void posts.kill('SIGCONT'));
  t.is((await Post.get('post-1'))?.slug, 'post-1', 'times out: the DB answers, the breaker opens');
  await store.nextGetCall();
  await store.nextGetCall(); // a second check has started, so the first one failed
  store.resetCounts();
  t.is((await Post.get('post-2'))?.slug, 'post-2');
  t.is(store.calls.getMany, undefined, 'still open: the checks asked the paused master, not a healthy one');
  t.deepEqual(errors, ['getMany: Error: store getMany timed out after 300 ms']);

  posts.kill('SIGCONT');
  await store.untilServed(async () => t.is((await Post.get('post-1'))?.slug, 'post-1'));
  f.reset();
  t.is((await Post.get('post-1'))?.slug, 'post-1');
  t.is(f.selects().length, 0, 'cached again');
});

test('a write while the breaker is open checks the store at once: its flush does not wait for the backoff timer', async (t) => {
  const f = await makeFixture(t, { onError: () => undefined });
  await f.Post.get('post-2');
  f.store.failing = true;
  await f.Post.get('post-1'); // the breaker opens
  for (let i = 0; i < 3; i++) await f.store.nextGetCall(); // three failed checks: the next one is 800 ms away
  f.store.failing = false; // a passing blip: the store is fine again
  f.store.resetCounts();
  const flushed = f.store.nextDeleteMany();
  await f.Post.query().patch({ title: 'after the blip' }).where('id', 2);
  t.is(f.store.calls.get, 1, 'the write started a check at once');
  const keys = await flushed;
  t.true(
    keys.some((key) => key.endsWith(':k:slug:=post-2')),
    'and the check delivered the flush',
  );
  f.reset();
  t.is((await f.Post.get('post-2'))?.title, 'after the blip');
  t.is(f.store.calls.getMany, 1, 'the breaker is closed: the cache is read again');
});
