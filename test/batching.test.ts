import test from 'ava';
import { Model } from 'objection';
import { forEachStore, useStores, STORE_SETUPS } from './helpers/stores.js';
import { makeFixture } from './helpers/fixture.js';

useStores(test);

// Lookups started in one tick are filled together (DataLoader's rule): one store read, at most one DB query.

const slugs = Array.from({ length: 100 }, (_, i) => `post-${i + 1}`);

forEachStore(
  test,
  '100 get()s of distinct cold keys started in one tick: one store read and one DB query, each caller its row',
  async (t, kind) => {
    const f = await makeFixture(t, { kind, rows: 100 });
    f.reset();
    const rows = await Promise.all(slugs.map((slug) => f.Post.get(slug)));
    t.deepEqual(
      rows.map((row) => row?.slug),
      slugs,
    );
    t.is(f.selects().length, 1, 'one DB query for the 100 keys');
    t.is(f.store.calls.getMany, 1, 'one store read');
    f.reset();
    await Promise.all(slugs.map((slug) => f.Post.get(slug)));
    t.is(f.selects().length, 0, 'warm: no DB query');
  },
  [...STORE_SETUPS, { store: 'memory', db: 'postgres' }],
);

forEachStore(test, 'a GraphQL-style fan-out across await chains is one batch too, and get, getBy and getById batch apart', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 100 });
  f.reset();
  // resolvers reach their lookups after awaits of their own, within the same tick's promise jobs
  const resolve = async (i: number) => {
    await null;
    await Promise.resolve();
    return i % 3 === 0 ? f.Post.getById(i + 1) : i % 3 === 1 ? f.Post.getByName(`Post ${i + 1}`) : f.Post.get(`post-${i + 1}`);
  };
  const rows = await Promise.all(Array.from({ length: 99 }, (_, i) => resolve(i)));
  t.deepEqual(
    rows.map((row) => row?.id),
    Array.from({ length: 99 }, (_, i) => i + 1),
  );
  t.is(f.selects().length, 3, 'one DB query per column looked up');
});

forEachStore(test, 'lookups of the same key in one batch share one fill; a missing key is undefined for each of its callers', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 3 });
  f.reset();
  const rows = await Promise.all([f.Post.get('post-1'), f.Post.get('nope'), f.Post.getMany(['post-1', 'post-2', 'nope']), f.Post.get('post-2')]);
  t.deepEqual(
    rows.map((row) => (Array.isArray(row) ? row.map((r) => r?.slug) : row?.slug)),
    ['post-1', undefined, ['post-1', 'post-2', undefined], 'post-2'],
  );
  t.true(f.selects().length <= 2, 'get and getMany batch apart (their events name each), each once');
});

forEachStore(test, 'a failing DB read rejects every lookup of its batch, and the next tick starts afresh', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 3 });
  await f.knex.schema.renameTable('posts', 'posts_away');
  const results = await Promise.allSettled([f.Post.get('post-1'), f.Post.get('post-2'), f.Post.get('post-3')]);
  t.true(results.every((result) => result.status === 'rejected'));
  await f.knex.schema.renameTable('posts_away', 'posts');
  t.deepEqual(
    (await Promise.all([f.Post.get('post-1'), f.Post.get('post-2')])).map((row) => row?.id),
    [1, 2],
  );
});

forEachStore(test, 'classes bound to different knex instances (bindKnex) never share a batch', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 3 });
  const other = await makeFixture(t, { kind: 'memory', rows: 0 });
  await other.knex('posts').insert({ slug: 'post-1', name: 'Elsewhere', title: 'Elsewhere' });
  const Bound = f.Post.bindKnex(other.knex) as typeof f.Post;
  const [here, there] = await Promise.all([f.Post.get('post-1'), Bound.get('post-1')]);
  t.is(here?.title, 'Title 1');
  t.is(there?.title, 'Elsewhere');
  t.true(there instanceof Model);
});
