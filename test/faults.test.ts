import test from 'ava';
import KeyvRedis from '@keyv/redis';
import { CountingKeyv } from './helpers/counting-keyv.js';
import { makeFixture, makePostClass } from './helpers/fixture.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

// Redis becomes unreachable under two processes (two clients, one namespace) sharing it: reads fall back to the
// DB within the store timeout, writes succeed, errors reach onError, and once Redis is back no stale entry is
// served: the writer's failed flush is kept and delivered before that process reads from the cache again.

const TIMEOUT = 300;

async function twoProcesses(t: import('ava').ExecutionContext, redis: RedisServer) {
  const f = await makeFixture(t, { rows: 3 });
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
  const A = makePostClass(await connect(), { timeout: TIMEOUT, onError: (error, c) => errors.push(`A ${c.operation}: ${String(error)}`) });
  const B = makePostClass(await connect(), { timeout: TIMEOUT, onError: (error, c) => errors.push(`B ${c.operation}: ${String(error)}`) });
  A.knex(f.knex);
  B.knex(f.knex);
  return { f, A, B, errors, clients };
}

test.serial('Redis paused (SIGSTOP): reads fall back to the DB, writes succeed, nothing stale after SIGCONT', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, B, errors } = await twoProcesses(t, redis);
  t.is((await A.get('post-1'))?.title, 'Title 1');
  t.is((await B.get('post-1'))?.title, 'Title 1'); // both processes have it cached
  f.reset();

  process.kill(redis.process.pid!, 'SIGSTOP');
  t.teardown(() => void process.kill(redis.process.pid!, 'SIGCONT'));
  t.is((await A.get('post-1'))?.title, 'Title 1', 'served by the DB');
  t.regex(errors.join('\n'), /A getMany: Error: store getMany timed out after 300 ms/);
  const post = (await A.query().findById(1))!;
  post.title = 'written during the outage';
  await post.save(); // the flush times out and stays pending in A
  t.is((await f.knex('posts').where('id', 1).first()).title, 'written during the outage');
  t.regex(errors.join('\n'), /A deleteMany: Error: store deleteMany timed out/);
  t.is((await A.get('post-1'))?.title, 'written during the outage', 'A reads the DB while its flush is pending');
  t.is((await B.get('post-1'))?.title, 'written during the outage', 'B cannot reach Redis either: the DB answers');

  process.kill(redis.process.pid!, 'SIGCONT');
  t.is((await A.get('post-1'))?.title, 'written during the outage', 'A delivers its flush, then reads');
  f.reset();
  t.is((await B.get('post-1'))?.title, 'written during the outage', 'B never sees the entry from before the outage');
  t.is((await A.get('post-1'))?.title, 'written during the outage');
  t.true(f.selects().length <= 1, 'and the cache works again');
});

test.serial('Redis killed and restarted: reads fall back, writes succeed, the pending flush lands after reconnect', async (t) => {
  const redis = await startRedis();
  const { f, A, B, errors, clients } = await twoProcesses(t, redis);
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
  t.is((await A.get('post-2'))?.title, 'while Redis was down');
  t.is((await B.get('post-2'))?.title, 'while Redis was down');
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
  const retried = new Promise<void>((resolve) => {
    const deleteMany = f.store.deleteMany.bind(f.store);
    f.store.deleteMany = async (keys: string[]) => {
      const result = await deleteMany(keys);
      resolve();
      return result;
    };
  });
  await retried; // the retry timer fires by itself
  t.true(f.store.calls.deleteMany! > failedCalls);
  f.reset();
  t.is((await f.Post.get('post-1'))?.title, 'x');
  t.is(f.store.calls.getMany, 1, 'nothing pending any more: the cache is read again');
});

test.serial('a writer cut off from a Redis that keeps its data: the flush is delivered when it can reach it again', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, B } = await twoProcesses(t, redis);
  await B.get('post-3');
  const storeA = A.cacheStore ?? (A.cacheMixinOptions.store as CountingKeyv);
  (storeA as CountingKeyv).failing = true; // A's link to Redis is down; B's is fine, and Redis keeps B's entry
  await A.query().patch({ title: 'A wrote this' }).where('id', 3);
  t.is((await A.get('post-3'))?.title, 'A wrote this', 'A serves nothing from the cache while its flush is pending');
  t.is((await B.get('post-3'))?.title, 'Title 3', 'the documented window: until A gets through, B still has the old entry');
  (storeA as CountingKeyv).failing = false;
  t.is((await A.get('post-3'))?.title, 'A wrote this'); // A gets through: its pending flush goes first
  t.is((await B.get('post-3'))?.title, 'A wrote this');
  t.is((await f.knex('posts').where('id', 3).first()).title, 'A wrote this');
});

test.serial('during an outage one call probes the store and the others go straight to the DB', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { f, A, errors } = await twoProcesses(t, redis);
  const store = A.cacheMixinOptions.store as CountingKeyv;
  await A.get('post-1');
  process.kill(redis.process.pid!, 'SIGSTOP');
  t.teardown(() => void process.kill(redis.process.pid!, 'SIGCONT'));
  t.is((await A.get('post-1'))?.title, 'Title 1'); // times out: the breaker opens
  store.resetCounts();
  f.reset();
  const slugs = ['post-1', 'post-2', 'post-3', 'nope', 'post-2'];
  const rows = await Promise.all(slugs.map((slug) => A.get(slug)));
  t.deepEqual(rows.map((row) => row?.slug), ['post-1', 'post-2', 'post-3', undefined, 'post-2']);
  t.is(store.calls.getMany, 1, 'one probe reached the store; the other lookups did not wait for it');
  t.is(errors.filter((e) => e.startsWith('A getMany')).length, 2, 'the first timeout and the probe');
  process.kill(redis.process.pid!, 'SIGCONT');
  t.is((await A.get('post-1'))?.title, 'Title 1');
  store.resetCounts();
  f.reset();
  t.is((await A.get('post-1'))?.title, 'Title 1');
  t.is(f.selects().length, 0, 'the breaker closed on the first call that got through');
});
