import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Keyv from 'keyv';
import { createMemoryStore, type LocalCacheOptions } from 'objection-cache';
import { CacheStore } from '../dist/store/cache-store.js';
import { makeFixture, makePostClass, type Fixture, type PostClass } from './helpers/fixture.js';
import { makeStore, redisCluster, redisServer, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

const run = promisify(execFile);
const LOCAL: LocalCacheOptions = { maxEntries: 1_000, ttl: 60_000 };
const KINDS: readonly StoreKind[] = ['redis', 'cluster'];

/** The ports of the Redis servers behind a store kind. */
async function ports(kind: StoreKind): Promise<readonly number[]> {
  return kind === 'redis' ? [(await redisServer()).port] : (await redisCluster()).ports;
}

/** Reads (MGET) the servers have answered, from their own stats. */
async function redisReads(kind: StoreKind): Promise<number> {
  let reads = 0;
  for (const port of await ports(kind)) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'commandstats']);
    for (const match of stdout.matchAll(/^cmdstat_(mget):calls=(\d+)/gm)) reads += Number(match[2]);
  }
  return reads;
}

/**
 * Reads `slug` until a read is answered from process memory (no Redis read, no DB query). A fill's own write
 * comes back as an invalidation, and a read overtaken by one keeps nothing, so that takes a read or two more.
 */
async function warmLocally(t: ExecutionContext, kind: StoreKind, Post: PostClass, queries: string[], slug: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const reads = await redisReads(kind);
    const dbBefore = queries.length;
    await Post.get(slug);
    if ((await redisReads(kind)) === reads && queries.length === dbBefore) return;
  }
  t.fail(`${slug} never came from the local tier`);
}

/** A second "process": its own Keyv (own connections, own local tier) over the same Redis namespace and database. */
async function otherProcess(t: ExecutionContext, kind: StoreKind, f: Fixture, options: { localCache?: LocalCacheOptions } = { localCache: LOCAL }) {
  const store = await makeStore(t, kind, f.store.namespace);
  const Post = makePostClass(store, options);
  Post.knex(f.knex);
  return { store, Post };
}

for (const kind of KINDS) {
  test.serial(`a hot key is served from process memory: no Redis read, no DB query [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    await warmLocally(t, kind, f.Post, f.queries, 'post-1');
    const reads = await redisReads(kind);
    for (let i = 0; i < 50; i++) t.is((await f.Post.get('post-1'))?.title, 'Title 1');
    t.is(await redisReads(kind), reads, 'no read reached Redis');
    t.is(f.selects().length, 1, 'one DB query: the first fill');
    const post = (await f.Post.get('post-1'))!;
    const again = (await f.Post.get('post-1'))!;
    t.not(post, again, 'every reader gets instances of its own');
    post.title = 'mutated';
    t.is(again.title, 'Title 1');
  });

  test.serial(`the writing process drops its local entries before the write returns [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    await warmLocally(t, kind, f.Post, f.queries, 'post-1');
    const post = (await f.Post.get('post-1'))!;
    await post.$query().patch({ title: 'new' });
    t.is((await f.Post.get('post-1'))?.title, 'new');
    await f.Post.query().patch({ title: 'newer' }).where('id', 1);
    t.is((await f.Post.get('post-1'))?.title, 'newer');
  });

  test.serial(`another process drops its local entry when Redis says the key changed [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    const reader = await otherProcess(t, kind, f);
    await warmLocally(t, kind, reader.Post, f.queries, 'post-1');
    await f.Post.query().patch({ title: 'changed' }).where('id', 1);
    // The invalidation was pushed to the reader's tracking connection before the writer's flush was answered; a
    // round trip of the reader's on that connection (a cold key of the same model: same node) comes back after it.
    t.is((await reader.Post.get('post-2'))?.title, 'Title 2');
    t.is((await reader.Post.get('post-1'))?.title, 'changed');
  });

  test.serial(`flushAll and a flush of the guard alone drop dependent local entries in another process [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    const reader = await otherProcess(t, kind, f);
    await warmLocally(t, kind, reader.Post, f.queries, 'post-1');
    await f.knex('posts').update({ title: 'out of sight' }).where('id', 1);
    await f.Post.flushAll();
    await reader.Post.get('post-3');
    t.is((await reader.Post.get('post-1'))?.title, 'out of sight', 'the generation token was deleted: every entry of the model goes');
  });

  test.serial(`cached queries use the tier on the same terms: a write to the table drops them in another process [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    const reader = await otherProcess(t, kind, f);
    const list = () => reader.Post.query().orderBy('id').cache();
    for (let i = 0; i < 3; i++) await list();
    f.reset();
    const reads = await redisReads(kind);
    t.is((await list()).length, 3);
    t.is(await redisReads(kind), reads, 'a warm cached query came from process memory');
    t.is(f.selects().length, 0);
    await f.Post.query().insert({ slug: 'post-4', name: 'Post 4' });
    await reader.Post.get('post-2');
    t.is((await list()).length, 4);
  });

  test.serial(`after CLIENT KILL of every connection and a write meanwhile, no process serves its old local entry [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    const reader = await otherProcess(t, kind, f);
    await warmLocally(t, kind, reader.Post, f.queries, 'post-1');
    for (const port of await ports(kind)) await run('redis-cli', ['-p', String(port), 'client', 'kill', 'type', 'normal']);
    await f.Post.query().patch({ title: 'while down' }).where('id', 1);
    // the reader's next Redis read goes over a new connection: its tier heard the old one break first
    await reader.Post.get('post-2');
    t.is((await reader.Post.get('post-1'))?.title, 'while down');
  });

  test.serial(`a store failure makes the tier forget all it holds, and reads bypass it until the store is back [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, localCache: LOCAL });
    await warmLocally(t, kind, f.Post, f.queries, 'post-1');
    await warmLocally(t, kind, f.Post, f.queries, 'post-2');
    const tier = CacheStore.of(f.store, () => undefined).tier!;
    t.true(tier.size >= 5, `two entries, their guards and the generation: ${tier.size} keys kept`);
    f.store.failing = true;
    await f.Post.query().patch({ title: 'flush failed' }).where('id', 2); // the write lands, its flush does not
    t.is(tier.size, 0, 'a failed store call may have missed invalidations: nothing is kept');
    f.reset();
    t.is((await f.Post.get('post-1'))?.title, 'Title 1');
    t.is((await f.Post.get('post-2'))?.title, 'flush failed');
    t.is(f.selects().length, 2, 'while the flush is pending, every read goes to the DB');
    f.store.failing = false;
  });

  test.serial(`the heap stays bounded: 40,000 distinct keys read through a tier of 1,000 [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, rows: 0, localCache: { maxEntries: 1_000, ttl: 60_000 } });
    const gc = (globalThis as { gc?: () => void }).gc;
    t.truthy(gc, 'ava runs with --expose-gc');
    // what the test's own store and query log record of each call is not the library's heap
    const forgetRecords = (): void => {
      f.store.ttls.clear();
      f.reset();
      gc!();
    };
    const heapAfter = async (from: number): Promise<number> => {
      for (let batch = from; batch < from + 20; batch++) {
        const keys = Array.from({ length: 1_000 }, (_, i) => `k-${batch}-${i}`);
        // twice: the second read of a batch is the one the tier keeps (the first one's own writes come back as invalidations)
        await f.Post.getMany(keys);
        await f.Post.getMany(keys);
      }
      forgetRecords();
      return process.memoryUsage().heapUsed;
    };
    await f.Post.getMany(['warm-up']);
    forgetRecords();
    const before = process.memoryUsage().heapUsed;
    // the first 20,000 keys fill the tier and every bounded memo of hot keys; the next 20,000 must add nothing
    const filled = await heapAfter(0);
    const after = await heapAfter(20);
    const tier = CacheStore.of(f.store, () => undefined).tier!;
    const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
    t.true(tier.size <= 1_000, `${tier.size} keys kept`);
    t.true(filled - before < 8 * 1024 * 1024, `heap grew ${mib(filled - before)} MiB over the first 20,000 keys`);
    // kept, each of the 20,000 keys would cost a few hundred bytes: several MiB
    t.true(after - filled < 1024 * 1024, `heap grew ${mib(after - filled)} MiB over the next 20,000 keys`);
    t.log(`${kind}: ${tier.size} keys kept, heap +${mib(filled - before)} MiB after 20,000 distinct keys, then ${mib(after - filled)} MiB after 20,000 more`);
  });

  test.serial(`the tier keeps at most maxEntries keys [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind, rows: 300, localCache: { maxEntries: 50, ttl: 60_000 } });
    const slugs = Array.from({ length: 300 }, (_, i) => `post-${i + 1}`);
    for (let round = 0; round < 3; round++) await f.Post.getMany(slugs);
    const tier = CacheStore.of(f.store, () => undefined).tier!;
    t.true(tier.size > 0 && tier.size <= 50, `${tier.size} keys kept`);
    t.is((await f.Post.getMany(slugs)).filter(Boolean).length, 300);
  });
}

test.serial('localCache is refused on a store that cannot say what changed, and ignored on a store in memory', async (t) => {
  const f = await makeFixture(t, { kind: 'memory', localCache: LOCAL });
  const error = await t.throwsAsync(() => f.Post.get('post-1'), { instanceOf: TypeError });
  t.regex(error!.message, /^Post: localCache needs a Redis store/);
  t.is(f.selects().length, 0, 'before any I/O');
  const local = makePostClass(createMemoryStore(), { localCache: LOCAL });
  local.knex(f.knex);
  t.is((await local.get('post-1'))?.title, 'Title 1');
  const plain = makePostClass(new Keyv(), { localCache: LOCAL });
  plain.knex(f.knex);
  t.is((await plain.get('post-1'))?.title, 'Title 1');
});

test.serial('localCache options are checked: a TypeError names what is wrong', async (t) => {
  const f = await makeFixture(t, { kind: 'redis' });
  for (const [localCache, message] of [
    [{ maxEntries: 0, ttl: 1000 }, /localCache.maxEntries must be a positive integer, got 0/],
    [{ maxEntries: 10, ttl: 0 }, /localCache.ttl must be a finite number of milliseconds > 0, got 0/],
    [{ maxEntries: 1.5, ttl: 1000 }, /localCache.maxEntries must be a positive integer, got 1.5/],
  ] as const) {
    const Post = makePostClass(f.store, { localCache: localCache as LocalCacheOptions });
    Post.knex(f.knex);
    await t.throwsAsync(() => Post.get('post-1'), { instanceOf: TypeError, message });
  }
  const first = makePostClass(f.store, { localCache: LOCAL });
  first.knex(f.knex);
  await first.get('post-1');
  const second = makePostClass(f.store, { localCache: { maxEntries: 5, ttl: 1000 } });
  second.knex(f.knex);
  await t.throwsAsync(() => second.get('post-1'), {
    instanceOf: TypeError,
    message: /differs from .* which another model set on the same store \(one local tier per store\)/,
  });
});
