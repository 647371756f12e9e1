import test from 'ava';
import Database from 'better-sqlite3';
import knexPkg, { type Knex } from 'knex';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen } from './helpers/events.js';
import { makePostClass, POSTS_DDL } from './helpers/fixture.js';
import { startPostgres } from './helpers/postgres.js';
import { forEachStore, makeStore, useStores } from './helpers/stores.js';

// Each test stops and restarts a PostgreSQL of its own; `grace` events are process-wide: one test at a time.
useStores(test);
const serial = test.serial as typeof test;

/** Waits until the clock has moved past `ms` from now: entries filled before are then past a ttl of `ms`. */
function clockPast(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() <= until) {
    // spin: a condition on the clock, not a sleep ordering two tasks
  }
}

/** knex logs refused connections: expected here. */
const QUIET = { warn() {}, error() {}, deprecate() {}, debug() {} };

async function openDatabase(t: import('ava').ExecutionContext) {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  // a refused connection fails the read in a second instead of knex's default minute
  const knex: Knex = knexPkg({
    client: 'pg',
    connection: { host: '127.0.0.1', port: pg.port, user: 'postgres', database: 'postgres' },
    acquireConnectionTimeout: 1000,
  });
  t.teardown(() => knex.destroy());
  await knex.schema.createTable('posts', POSTS_DDL);
  for (let i = 1; i <= 3; i++) await knex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}` });
  return { pg, knex };
}

forEachStore(
  serial,
  'grace: with PostgreSQL stopped, cached keys keep answering, flushed and uncached ones fail with the DB error; after it is back nothing older than the last committed write is served',
  async (t, kind) => {
    const { pg, knex } = await openDatabase(t);
    const store = await makeStore(t, kind);
    const Post = makePostClass(store, { ttl: 1, missTtl: 1, grace: 60_000 });
    Post.knex(knex);
    const graced = listen(t, 'grace');

    t.is((await Post.get('post-1'))?.title, 'Title 1');
    t.is((await Post.get('post-2'))?.title, 'Title 2');
    t.is(await Post.get('no-such-post'), undefined);
    await Post.query().patch({ title: 'Last write' }).where('id', 2); // flushes post-2: its entry is never graced
    clockPast(1); // every entry is past its ttl, in grace

    await pg.pause();
    t.is((await Post.get('post-1'))?.title, 'Title 1', 'an entry in grace answers');
    t.is(await Post.get('no-such-post'), undefined, 'so does a cached miss');
    await t.throwsAsync(() => Post.get('post-2'), undefined, 'a flushed entry is never served: the DB error');
    await t.throwsAsync(() => Post.get('post-3'), undefined, 'an uncached key: the DB error');
    t.like(graced, [
      { model: 'Post', table: 'posts', operation: 'get', kind: 'row', column: 'slug', key: 'post-1', found: true, reason: 'error' },
      { key: 'no-such-post', found: false, reason: 'error' },
    ]);
    t.is(graced.length, 2);
    t.true(graced[0]!.age >= 0);

    await pg.resume();
    t.is((await Post.get('post-2'))?.title, 'Last write');
    t.is((await Post.get('post-1'))?.title, 'Title 1');
    await Post.query().patch({ title: 'After the outage' }).where('id', 1);
    t.is((await Post.get('post-1'))?.title, 'After the outage');
    t.is(graced.length, 2, 'with the DB up, entries past their ttl are read again, not graced');
  },
);

serial('grace: with graceTimeout, a DB read slower than that answers from grace', async (t) => {
  const { knex } = await openDatabase(t);
  const store = await makeStore(t, 'memory');
  const Post = makePostClass(store, { ttl: 1, grace: 60_000, graceTimeout: 20 });
  Post.knex(knex);
  const graced = listen(t, 'grace');
  await Post.get('post-1');
  await knex('posts').where('id', 1).update({ title: 'Changed' }); // a knex write flushes the model: refill
  t.is((await Post.get('post-1'))?.title, 'Changed');
  clockPast(1);
  // hold the table: the next read waits behind this lock for as long as the transaction stays open
  const trx = await knex.transaction();
  await trx.raw('lock table posts in access exclusive mode');
  t.is((await Post.get('post-1'))?.title, 'Changed', 'answered from grace after graceTimeout');
  t.like(graced, [{ key: 'post-1', reason: 'timeout', found: true }]);
  await trx.rollback();
});

forEachStore(serial, 'grace on SQLite: a read refused by a lock (SQLITE_BUSY) answers from grace', async (t, kind) => {
  const dir = mkdtempSync(join(tmpdir(), 'objection-cache-grace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'db.sqlite');
  // a short busy timeout: a read that meets the lock fails in 100 ms
  const knex = knexPkg({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    pool: { afterCreate: (connection: { pragma(sql: string): unknown }, done: () => void) => void (connection.pragma('busy_timeout = 100'), done()) },
  });
  t.teardown(() => knex.destroy());
  await knex.schema.createTable('posts', POSTS_DDL);
  for (let i = 1; i <= 2; i++) await knex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}` });
  const store = await makeStore(t, kind);
  const Post = makePostClass(store, { ttl: 1, grace: 60_000 });
  Post.knex(knex);
  const graced = listen(t, 'grace');
  await Post.get('post-1');
  clockPast(1);
  const locker = new Database(file);
  t.teardown(() => locker.close());
  locker.exec('begin exclusive');
  t.is((await Post.get('post-1'))?.title, 'Title 1', 'answered from grace');
  await t.throwsAsync(() => Post.get('post-2'), { any: true, code: 'SQLITE_BUSY' }, 'an uncached key fails with the DB error');
  t.like(graced, [{ key: 'post-1', reason: 'error' }]);
  locker.exec('rollback');
  t.is((await Post.get('post-2'))?.title, 'Title 2');
});

test('grace and graceTimeout are durations: anything else is a TypeError before any I/O', async (t) => {
  const store = await makeStore(t, 'memory');
  for (const options of [{ grace: -1 }, { grace: Number.NaN }, { graceTimeout: -5 }]) {
    const Post = makePostClass(store, options);
    t.throws(() => Post.cacheStore, { instanceOf: TypeError, message: /grace/ });
  }
});
