import test from 'ava';
import { createMemoryStore } from 'objection-cache';
import { makeFixture, makePostClass } from './helpers/fixture.js';
import { gated } from './helpers/gates.js';

// The library's own memory store (the default) is read and written synchronously, around Keyv. The same
// guarantees hold there: hits make no query, writes flush, the refill race is guarded, cold keys fill once.

async function local(t: import('ava').ExecutionContext) {
  const f = await makeFixture(t);
  const store = createMemoryStore();
  const Post = makePostClass(store);
  Post.knex(f.knex);
  return { f, store, Post };
}

test('hits and cached misses make no DB query; writes flush', async (t) => {
  const { f, Post } = await local(t);
  t.is((await Post.get('post-1'))?.id, 1);
  t.is(await Post.get('nope'), undefined);
  f.reset();
  t.is((await Post.get('post-1'))?.id, 1);
  t.is(await Post.get('nope'), undefined);
  t.deepEqual(
    (await Post.getMany(['post-1', 'nope'])).map((p) => p?.id),
    [1, undefined],
  );
  t.is(f.selects().length, 0);
  await Post.query().patch({ title: 'new', slug: 'nope' }).where('id', 1);
  t.is(await Post.get('post-1'), undefined);
  t.is((await Post.get('nope'))?.title, 'new');
});

test('entries are Keyv entries: what the cache writes, the Keyv reads', async (t) => {
  const { store, Post } = await local(t);
  await Post.get('post-2');
  const keys = [...(store.store as Map<string, unknown>).keys()];
  const valueKey = keys.find((key) => key.includes(':k:slug:'))!;
  t.regex(String(await store.get(valueKey)), /"slug":"post-2"/);
});

test('the refill race is guarded', async (t) => {
  const { Post } = await local(t);
  const { Gated, holdNextQuery } = gated(Post);
  const hold = holdNextQuery();
  const reader = Gated.get('post-3');
  await hold.reached;
  await Post.query().patch({ title: 'written' }).where('id', 3);
  hold.release();
  t.is((await reader)?.title, 'Title 3');
  t.is((await Post.get('post-3'))?.title, 'written');
});

test('concurrent cold reads of one key make one DB query; each caller gets its own instance', async (t) => {
  const { f, Post } = await local(t);
  f.reset();
  const rows = await Promise.all(Array.from({ length: 50 }, () => Post.get('post-1')));
  t.is(f.selects().length, 1);
  t.is(new Set(rows).size, 50);
  rows[0]!.title = 'mutated';
  t.is((await Post.get('post-1'))?.title, 'Title 1');
});
