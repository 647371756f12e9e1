import test, { type ExecutionContext } from 'ava';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { cached, cacheEvents, type CacheEventMap, type CacheEventName } from 'objection-cache';
import { listen } from './helpers/events.js';
import { makeFixture } from './helpers/fixture.js';
import { CONSISTENCY_SETUPS, forEachStore, useStores } from './helpers/stores.js';

// Events are process-wide: the tests of this file run one at a time, so each sees only its own.
useStores(test);
const serial = test.serial as typeof test;

type Seen = { [K in CacheEventName]: CacheEventMap[K][] };
const CACHE_EVENTS: readonly CacheEventName[] = ['hit', 'miss', 'fill', 'flush', 'error', 'breaker'];

/** Every event from now until the test ends, by name. */
function record(t: ExecutionContext): Seen {
  return Object.fromEntries(CACHE_EVENTS.map((name) => [name, listen(t, name)])) as unknown as Seen;
}

function clear(seen: Seen): void {
  for (const list of Object.values(seen)) list.length = 0;
}

forEachStore(
  serial,
  'lookups: a miss and a fill when cold, a hit when warm, a hit with found: false for a cached miss',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    const seen = record(t);
    await f.Post.get('post-1');
    t.like(seen.miss, [{ model: 'Post', table: 'posts', operation: 'get', kind: 'row', column: 'slug', key: 'post-1', joined: false }]);
    t.is(seen.miss.length, 1);
    t.true(seen.miss[0]!.duration >= 0);
    t.like(seen.fill, [{ model: 'Post', table: 'posts', operation: 'get', kind: 'row', entries: 1 }]);
    t.is(seen.fill.length, 1);
    t.deepEqual(seen.hit, []);
    clear(seen);
    await f.Post.get('post-1');
    await f.Post.get('nope');
    await f.Post.get('nope');
    t.like(seen.hit, [
      { operation: 'get', key: 'post-1', found: true, joined: false },
      { operation: 'get', key: 'nope', found: false },
    ]);
    t.is(seen.hit.length, 2);
    t.is(seen.miss.length, 1, 'the first lookup of nope went to the DB');
    clear(seen);
    await f.Post.getMany(['post-1', 'nope', 'post-2']);
    t.deepEqual(
      seen.hit.map((hit) => [hit.operation, hit.key, hit.found]),
      [
        ['getMany', 'post-1', true],
        ['getMany', 'nope', false],
      ],
    );
    t.deepEqual(
      seen.miss.map((miss) => [miss.operation, miss.key]),
      [['getMany', 'post-2']],
    );
    t.is(f.selects().length, 3, 'one DB query per cold lookup: post-1, nope, post-2');
    clear(seen);
    await f.Post.getById(1);
    await f.Post.getBy('name', 'Post 3');
    t.deepEqual(
      [...seen.hit, ...seen.miss].map((event) => [event.operation, event.column]),
      [
        ['getById', 'id'],
        ['getBy', 'name'],
      ],
    );
  },
  // a miss under a string is not cached on MySQL (its collation matches other spellings): test/mysql.test.ts
  CONSISTENCY_SETUPS.filter((setup) => setup.db !== 'mysql'),
);

forEachStore(
  serial,
  'concurrent lookups of a cold key: one miss that read the DB, the others joined it',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    const seen = record(t);
    await Promise.all([f.Post.get('post-2'), f.Post.get('post-2'), f.Post.get('post-2')]);
    t.is(f.selects().length, 1);
    t.deepEqual(
      seen.miss.map((miss) => miss.joined),
      [false, true, true],
    );
    t.is(seen.fill.length, 1);
    clear(seen);
    await Promise.all([f.Post.get('post-2'), f.Post.get('post-2')]);
    t.is(seen.hit.length, 2, 'warm: each caller is a hit');
    t.deepEqual(seen.miss, []);
  },
  CONSISTENCY_SETUPS,
);

forEachStore(
  serial,
  'writes: one flush event per store deletion, with the number of keys',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    await f.Post.get('post-1');
    const seen = record(t);
    await f.Post.query().patch({ title: 'New' }).where('id', 1);
    t.is(seen.flush.length, 1);
    t.like(seen.flush[0], { model: 'Post', table: 'posts', operation: 'deleteMany', delivered: true });
    t.true(seen.flush[0]!.keys >= 7, 'the id, slug and name keys (entry and guard each) and the table token');
    clear(seen);
    await f.Post.flushAll();
    t.like(seen.flush, [{ operation: 'delete', keys: 2, delivered: true }]);
  },
  CONSISTENCY_SETUPS,
);

forEachStore(
  serial,
  'cached queries and cached() values: miss and fill, then hit, with their kind',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    const seen = record(t);
    const list = () => f.Post.query().where('id', '<', 3).orderBy('id').cache();
    await list();
    await list();
    t.like(seen.miss, [{ model: 'Post', table: 'posts', operation: 'query().cache()', kind: 'query' }]);
    t.like(seen.fill, [{ operation: 'query().cache()', kind: 'query', entries: 1 }]);
    t.like(seen.hit, [{ operation: 'query().cache()', kind: 'query', found: true }]);
    clear(seen);
    const value = () => cached('post count', async () => (await f.Post.query()).length, { dependsOn: [f.Post] });
    t.is(await value(), 3);
    t.is(await value(), 3);
    t.like(seen.miss, [{ model: 'Post', table: 'posts', operation: 'cached', kind: 'value', key: 'post count' }]);
    t.like(seen.hit, [{ operation: 'cached', kind: 'value', key: 'post count' }]);
    t.is(seen.miss.length + seen.hit.length, 2);
  },
  CONSISTENCY_SETUPS,
);

serial('a listener that throws never breaks a lookup: onError hears of it, and so do error listeners', async (t) => {
  const reported: string[] = [];
  const f = await makeFixture(t, { onError: (error, context) => reported.push(`${context.operation}: ${String(error)}`) });
  const seen = record(t);
  const broken = () => {
    throw new Error('listener bug');
  };
  cacheEvents.on('hit', broken);
  t.teardown(() => void cacheEvents.off('hit', broken));
  await f.Post.get('post-1');
  t.is((await f.Post.get('post-1'))?.slug, 'post-1');
  t.deepEqual(reported, ['listener: Error: listener bug']);
  t.like(seen.error, [{ model: 'Post', operation: 'listener' }]);
});

serial('the same messages go out on diagnostics channels objection-cache:<event>', async (t) => {
  const f = await makeFixture(t);
  const heard: unknown[] = [];
  const onHit = (message: unknown) => void heard.push(message);
  subscribe('objection-cache:hit', onHit);
  t.teardown(() => void unsubscribe('objection-cache:hit', onHit));
  await f.Post.get('post-1');
  t.deepEqual(heard, []);
  await f.Post.get('post-1');
  t.like(heard, [{ model: 'Post', table: 'posts', operation: 'get', kind: 'row', key: 'post-1', found: true }]);
});

serial('store failures: an error event per failure, and the breaker opening and closing', async (t) => {
  const f = await makeFixture(t, { kind: 'redis', onError: () => undefined });
  const seen = record(t);
  await f.Post.get('post-1');
  f.store.failing = true;
  t.is((await f.Post.get('post-1'))?.slug, 'post-1', 'the DB answers');
  t.like(seen.error, [{ model: 'Post', table: 'posts', operation: 'getMany' }]);
  t.like(seen.breaker, [{ model: 'Post', state: 'open' }]);
  f.store.failing = false;
  await f.store.untilServed(() => f.Post.get('post-1'));
  t.like(seen.breaker, [{ state: 'open' }, { model: 'Post', state: 'closed' }]);
});

serial('once the last listener is gone, nothing is published', async (t) => {
  const f = await makeFixture(t);
  const heard: unknown[] = [];
  const onHit = (message: unknown) => void heard.push(message);
  cacheEvents.on('hit', onHit);
  cacheEvents.on('hit', onHit);
  await f.Post.get('post-1');
  await f.Post.get('post-1');
  t.is(heard.length, 2, 'one hit, heard by the listener added twice');
  cacheEvents.off('hit', onHit);
  await f.Post.get('post-1');
  t.is(heard.length, 3, 'still one listener');
  cacheEvents.off('hit', onHit);
  await f.Post.get('post-1');
  t.is(heard.length, 3);
  subscribe('objection-cache:hit', onHit);
  await f.Post.get('post-1');
  unsubscribe('objection-cache:hit', onHit);
  await f.Post.get('post-1');
  t.is(heard.length, 4, 'a channel subscriber hears while subscribed');
});
