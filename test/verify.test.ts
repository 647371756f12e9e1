import test from 'ava';
import Database from 'better-sqlite3';
import { once } from 'node:events';
import { cacheEvents, CachedModel, type CacheStaleEvent } from 'objection-cache';
import { Model } from 'objection';
import { CountingKeyv } from './helpers/counting-keyv.js';
import { listen } from './helpers/events.js';
import { makeFixture, makePostClass } from './helpers/fixture.js';
import { CONSISTENCY_SETUPS, forEachStore, useStores } from './helpers/stores.js';
import { twoConnections } from './helpers/two-connections.js';

// `stale` events are process-wide: these tests run one at a time.
useStores(test);
const serial = test.serial as typeof test;
const EVERY_HIT = { sampleRate: 1, delay: 0 };

interface RawPgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

forEachStore(serial, 'verify: a write the cache cannot see is reported as stale, and the check neither fills nor flushes', async (t, kind) => {
  const s = await twoConnections(t, kind);
  const Post = makePostClass(s.store, { verify: EVERY_HIT });
  Post.knex(s.readerKnex);
  await Post.get('post-1');
  const program = new Database(s.file!);
  t.teardown(() => program.close());
  program.prepare("update posts set title = 'changed out of sight' where id = 1").run();
  const reported = once(cacheEvents, 'stale') as Promise<[CacheStaleEvent]>;
  s.store.resetCounts();
  t.is((await Post.get('post-1'))?.title, 'Title 1', 'the cache serves what it holds');
  const [stale] = await reported;
  t.like(stale, {
    model: 'Post',
    table: 'posts',
    operation: 'get',
    kind: 'row',
    column: 'slug',
    key: 'post-1',
    cached: { id: 1, title: 'Title 1' },
    database: { id: 1, title: 'changed out of sight' },
  });
  t.is(s.store.calls.setMany, undefined, 'no fill');
  t.is(s.store.calls.deleteMany, undefined, 'no flush');
  const again = once(cacheEvents, 'stale');
  t.is((await Post.get('post-1'))?.title, 'Title 1', 'still cached: the check reports, it does not repair');
  await again;
});

forEachStore(
  serial,
  'verify on PostgreSQL: a write through a connection of its own is reported as stale',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db, verify: EVERY_HIT });
    await f.Post.get('post-1');
    // the pg driver knex loaded, used directly: a connection the cache does not watch, as another program's
    const client = f.knex.client as unknown as { driver: { Client: new (config: unknown) => RawPgClient }; config: { connection: unknown } };
    const program = new client.driver.Client(client.config.connection);
    await program.connect();
    t.teardown(() => program.end());
    await program.query("update posts set title = 'changed out of sight' where id = 1");
    const reported = once(cacheEvents, 'stale') as Promise<[CacheStaleEvent]>;
    t.is((await f.Post.get('post-1'))?.title, 'Title 1');
    const [stale] = await reported;
    t.like(stale, { model: 'Post', key: 'post-1', cached: { title: 'Title 1' }, database: { title: 'changed out of sight' } });
  },
  CONSISTENCY_SETUPS.filter((setup) => setup.db === 'postgres'),
);

serial('verify: a write racing the check flushes the entry, and that is no alarm', async (t) => {
  const f = await makeFixture(t);
  const store = new CountingKeyv();
  const Post = makePostClass(store, { verify: EVERY_HIT });
  Post.knex(f.knex);
  await Post.get('post-1');
  const stale = listen(t, 'stale');
  const hold = store.holdDeletes();
  const write = Post.query().patch({ title: 'New' }).where('id', 1).execute(); // started now, not when awaited
  await hold.started; // the row is written, its flush not yet delivered
  const checkRead = once(f.knex, 'query-response');
  t.is((await Post.get('post-1'))?.title, 'Title 1', 'the hit in that window');
  await checkRead; // the check has read the new row: it differs from the hit
  const stampsRead = store.nextGetMany();
  f.reset();
  await new Promise((resolve) => setImmediate(resolve)); // the check goes on as far as it can while the flush is held
  hold.release();
  await write;
  await stampsRead; // the check read the stamps (after the flush landed), and anything it did next has started
  t.deepEqual(stale, []);
  t.deepEqual(f.selects(), [], 'the stamps had moved: no second look at the database');
  t.is((await Post.get('post-1'))?.title, 'New');
});

serial('verify: a hit that matches the database costs one DB read off the request path, and nothing is reported', async (t) => {
  const f = await makeFixture(t, { verify: EVERY_HIT });
  await f.Post.get('post-1');
  const stale = listen(t, 'stale');
  f.reset();
  const checked = once(f.knex, 'query-response');
  await f.Post.get('post-1');
  t.is(f.selects().length, 0, 'the lookup answered before the check read anything');
  await checked;
  t.is(f.selects().length, 1);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(stale, []);
});

serial('verify: off by default and with a sample rate of 0', async (t) => {
  for (const verify of [undefined, { sampleRate: 0 }]) {
    const f = await makeFixture(t, verify ? { verify } : {});
    await f.Post.get('post-1');
    f.reset();
    for (let i = 0; i < 20; i++) await f.Post.get('post-1');
    await new Promise((resolve) => setImmediate(resolve));
    t.is(f.selects().length, 0);
  }
});

test('verify: a sample rate outside 0..1, or no object, is a TypeError before any I/O', (t) => {
  for (const verify of [{ sampleRate: 2 }, { sampleRate: -0.1 }, { sampleRate: Number.NaN }, { sampleRate: 'all' }, 5, { sampleRate: 1, delay: -1 }]) {
    class Checked extends CachedModel(Model, { verify: verify as never }) {
      static override tableName = 'posts';
    }
    t.throws(() => Checked.cacheStore, { instanceOf: TypeError, message: /verify/ });
  }
});
