import test from 'ava';
import { forEachStore, useStores } from './helpers/stores.js';
import { makeFixture } from './helpers/fixture.js';
import { gated } from './helpers/gates.js';

useStores(test);

function bindingsOf(f: { knex: import('knex').Knex }): unknown[][] {
  const seen: unknown[][] = [];
  f.knex.on('query', (q: { sql: string; bindings?: unknown[] }) => {
    if (/^select/i.test(q.sql)) seen.push(q.bindings ?? []);
  });
  return seen;
}

forEachStore(test, '100 concurrent get()s of one cold key make one DB query and one store read', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  f.reset();
  const rows = await Promise.all(Array.from({ length: 100 }, () => f.Post.get('post-1')));
  t.true(rows.every((row) => row?.slug === 'post-1'));
  t.is(new Set(rows).size, 100, 'each caller gets its own instance');
  t.is(f.selects().length, 1);
  t.is(f.store.calls.getMany, 1);
});

forEachStore(test, 'concurrent get()s of one missing key make one DB query', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  f.reset();
  const rows = await Promise.all(Array.from({ length: 50 }, () => f.Post.get('nope')));
  t.true(rows.every((row) => row === undefined));
  t.is(f.selects().length, 1);
});

forEachStore(test, 'overlapping getMany()s share their in-flight keys: no key is read from the DB twice', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 20 });
  const bindings = bindingsOf(f);
  const { Gated, holdNextQuery } = gated(f.Post);
  const hold = holdNextQuery();
  const first = Gated.getMany(['post-1', 'post-2', 'post-3', 'post-4']);
  await hold.reached; // the first batch is in flight
  const second = Gated.getMany(['post-3', 'post-4', 'post-5', 'post-6']);
  const single = Gated.get('post-2');
  hold.release();
  const [a, b, c] = await Promise.all([first, second, single]);
  t.deepEqual(
    a.map((p) => p?.id),
    [1, 2, 3, 4],
  );
  t.deepEqual(
    b.map((p) => p?.id),
    [3, 4, 5, 6],
  );
  t.is(c?.id, 2);
  const asked = bindings.flat();
  t.deepEqual([...asked].sort(), ['post-1', 'post-2', 'post-3', 'post-4', 'post-5', 'post-6']);
});

forEachStore(test, 'a failed fill rejects every caller that shared it, and the next call starts afresh', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  await f.knex.schema.renameTable('posts', 'posts_away');
  const results = await Promise.allSettled([f.Post.get('post-1'), f.Post.get('post-1'), f.Post.getMany(['post-1'])]);
  t.true(results.every((r) => r.status === 'rejected'));
  t.is(f.selects().length, 1);
  await f.knex.schema.renameTable('posts_away', 'posts');
  t.is((await f.Post.get('post-1'))?.id, 1);
});

forEachStore(test, 'getMany of 1,000 keys: one store getMany and one DB query cold, no DB query warm', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  await f.knex.batchInsert(
    'posts',
    Array.from({ length: 1000 }, (_, i) => ({ slug: `s${i}`, name: `n${i}` })),
    200,
  );
  const keys = Array.from({ length: 1000 }, (_, i) => `s${i}`);
  f.reset();
  const cold = await f.Post.getMany(keys);
  t.is(cold.filter(Boolean).length, 1000);
  t.is(f.store.calls.getMany, 1);
  t.is(f.selects().length, 1);
  if (kind === 'memory') t.is(f.store.calls.setMany, 2, 'one write of new guard tokens, one of the filled rows');
  else t.is(f.store.calls.setMany, 1, 'on Redis the read created the guard tokens: one write, of the filled rows');
  f.reset();
  const warm = await f.Post.getMany(keys);
  t.deepEqual(
    warm.map((p) => p?.slug),
    keys,
  );
  t.deepEqual(f.store.calls, { getMany: 1 });
  t.is(f.selects().length, 0);
});

forEachStore(test, 'whereIn is chunked only past the bound-parameter limit (30,000 values)', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  const keys = Array.from({ length: 30_001 }, (_, i) => `absent-${i}`);
  f.reset();
  const rows = await f.Post.getMany(keys);
  t.is(rows.length, 30_001);
  t.true(rows.every((row) => row === undefined));
  t.is(f.selects().length, 2);
  t.is(f.store.calls.getMany, 1);
});
