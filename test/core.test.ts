import test from 'ava';
import Database from 'better-sqlite3';
import { forEachStore, storedKeys, useStores } from './helpers/stores.js';
import Keyv from 'keyv';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import knexPkg from 'knex';
import { makeFixture, POSTS_DDL } from './helpers/fixture.js';
import { unscoped } from './helpers/keys.js';
import { twoConnections } from './helpers/two-connections.js';

useStores(test);

forEachStore(test, 'get reads through: one DB query and one store read when cold, no DB query when warm', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const cold = await f.Post.get('post-1');
  t.is(cold?.name, 'Post 1');
  t.is(f.selects().length, 1);
  // On Redis a cold key costs two round trips: a read that also creates the missing guard (and generation), and
  // the fill. Elsewhere the tokens are written after the read: three.
  t.deepEqual([f.store.calls.getMany, f.store.calls.setMany], kind === 'memory' ? [1, 2] : [1, 1]);
  f.reset();
  const warm = await f.Post.get('post-1');
  t.deepEqual(warm?.toJSON(), cold?.toJSON());
  t.is(f.selects().length, 0);
  t.deepEqual(f.store.calls, { getMany: 1 });
});

forEachStore(test, 'a miss is cached: a repeated miss makes no DB query', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  t.is(await f.Post.get('nope'), undefined);
  t.is(await f.Post.get('nope'), undefined);
  t.is(f.selects().length, 1);
});

forEachStore(test, 'reads return fresh instances of the subclass; mutating one does not change the next get', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const first = await f.Post.get('post-1');
  t.true(first instanceof f.Post);
  first!.title = 'mutated';
  (first!.meta as { n: number }).n = 99;
  const second = await f.Post.get('post-1');
  t.not(second, first);
  t.is(second!.title, 'Title 1');
  t.deepEqual(second!.meta, { n: 1 });
  t.is(second!.$id(), 1);
  t.deepEqual(second!.$toJson(), (await f.Post.query().findById(1))!.$toJson());
});

forEachStore(test, 'values survive the store unchanged: Date, boolean, JSON column, numbers', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  await f.Post.query()
    .patch({ published: true, meta: { nested: { list: [1, 'two', null] }, when: 'x' } as never })
    .where('id', 2);
  await f.Post.getById(2);
  const cached = await f.Post.getById(2);
  const direct = await f.Post.query().findById(2);
  t.true(cached!.createdAt instanceof Date);
  t.is(cached!.published, true);
  t.deepEqual(cached!.$toJson(), direct!.$toJson());
  t.is(f.selects().filter((sql) => /where `id` in \(\?\)/.test(sql)).length, 1, String(f.selects()));
});

forEachStore(test, 'getById, getBy and a getter built on getBy read their own columns', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  t.is((await f.Post.getById(2))?.slug, 'post-2');
  t.is((await f.Post.getBy('name', 'Post 3'))?.slug, 'post-3');
  t.is((await f.Post.getByName('Post 1'))?.slug, 'post-1');
  t.is((await f.Post.getBy('slug', 'post-2'))?.id, 2);
  f.reset();
  await f.Post.getById(2);
  await f.Post.getByName('Post 1');
  t.is(f.selects().length, 0);
});

forEachStore(test, 'getMany: aligned with its input, one store read and one DB query cold, none warm', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 5 });
  const keys = ['post-3', 'nope', 'post-1', 'post-3', 'post-5'];
  const cold = await f.Post.getMany(keys);
  t.deepEqual(
    cold.map((p) => p?.slug),
    ['post-3', undefined, 'post-1', 'post-3', 'post-5'],
  );
  t.is(f.selects().length, 1);
  t.is(f.store.calls.getMany, 1);
  f.reset();
  const warm = await f.Post.getMany(keys);
  t.deepEqual(
    warm.map((p) => p?.slug),
    ['post-3', undefined, 'post-1', 'post-3', 'post-5'],
  );
  t.is(f.selects().length, 0);
  t.deepEqual(f.store.calls, { getMany: 1 });
  f.reset();
  const mixed = await f.Post.getMany(['post-1', 'post-2', 'post-4']);
  t.deepEqual(
    mixed.map((p) => p?.id),
    [1, 2, 4],
  );
  t.is(f.selects().length, 1, 'only the two cold keys go to the DB, in one query');
  t.true(f.selects()[0]!.includes('in (?, ?)'));
  t.true(warm[0] !== warm[3], 'duplicate keys still get their own instances');
});

forEachStore(test, 'getManyBy reads any cache key column', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const rows = await f.Post.getManyBy('name', ['Post 2', 'Post 9', 'Post 1']);
  t.deepEqual(
    rows.map((p) => p?.id),
    [2, undefined, 1],
  );
  t.deepEqual(
    (await f.Post.getManyBy('id', [3, 1])).map((p) => p?.slug),
    ['post-3', 'post-1'],
  );
});

for (const [label, bad] of [
  ['undefined', undefined],
  ['null', null],
  ['an object', { slug: 'post-1' }],
  ['an array', ['post-1']],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['a boolean', true],
  ['a Date', new Date()],
] as const) {
  test(`a key that is ${label} is a TypeError naming model and column, before any I/O`, async (t) => {
    const f = await makeFixture(t, {});
    f.reset();
    const error = await t.throwsAsync(() => f.Post.get(bad as never), { instanceOf: TypeError });
    t.regex(error!.message, /Post\.slug/);
    await t.throwsAsync(() => f.Post.getMany(['post-1', bad as never]), { instanceOf: TypeError, message: /Post\.slug/ });
    await t.throwsAsync(() => f.Post.getById(bad as never), { instanceOf: TypeError, message: /Post\.id/ });
    t.deepEqual(f.queries, []);
    t.deepEqual(f.store.calls, {});
  });
}

forEachStore(test, 'getBy on a column that is not a cache key names the allowed columns, before any I/O', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  f.reset();
  const error = await t.throwsAsync(() => f.Post.getBy('title', 'Title 1'), { instanceOf: TypeError });
  t.regex(error!.message, /Post/);
  t.regex(error!.message, /"title"/);
  t.regex(error!.message, /"id", "slug", "name"/);
  await t.throwsAsync(() => f.Post.getManyBy('title', ['x']), { instanceOf: TypeError });
  await t.throwsAsync(() => f.Post.getMany('post-1' as never), { instanceOf: TypeError, message: /Post\.getMany/ });
  t.deepEqual(f.queries, []);
  t.deepEqual(f.store.calls, {});
});

forEachStore(test, 'keys with ":", spaces, newlines, "*", unicode or 10 kB of text each read their own row', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  const slugs = ['a:b', 'a b', 'a\nb', 'a*', '*', 'ünï€ødé 🚀', 'x'.repeat(10_240), 'x'.repeat(10_241), '', '[a]', '?', '{tag}', '1', '-1', '1.5'];
  for (const [i, slug] of slugs.entries()) await f.Post.query().insert({ slug, name: `n${i}` });
  for (let round = 0; round < 2; round++) {
    const rows = await f.Post.getMany(slugs);
    t.deepEqual(
      rows.map((r) => r?.slug),
      slugs,
    );
    for (const slug of slugs) t.is((await f.Post.get(slug))?.slug, slug);
  }
  const stored = await storedKeys(f.store, kind);
  t.true(stored.length >= slugs.length * 2);
  t.true(
    stored.every((key) => key.length < 200),
    'long keys are hashed',
  );
});

forEachStore(test, 'number, bigint and string spellings of one id read the same row', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  t.is((await f.Post.getById(2))?.slug, 'post-2');
  t.is((await f.Post.getById('2'))?.slug, 'post-2');
  t.is((await f.Post.getById(2n))?.slug, 'post-2');
  t.is((await f.Post.getById('02'))?.slug, 'post-2', 'a spelling the DB matches but the cache cannot flush is served uncached');
  t.is(f.selects().length, 2);
  await f.Post.query().patch({ title: 'new' }).where('id', 2);
  t.is((await f.Post.getById('2'))?.title, 'new');
  t.is((await f.Post.getById('02'))?.title, 'new');
});

forEachStore(test, 'save() of an existing row flushes old and new key values in one deleteMany', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const post = (await f.Post.get('post-1'))!;
  t.is(await f.Post.get('renamed'), undefined); // a cached miss under the new value
  f.reset();
  post.slug = 'renamed';
  post.title = 'Renamed';
  t.is(await post.save(), post);
  t.is(f.store.calls.deleteMany, 1);
  t.is(f.store.calls.setMany ?? 0, 0);
  f.reset();
  t.is(await f.Post.get('post-1'), undefined, 'the old value no longer hits');
  t.is((await f.Post.get('renamed'))?.title, 'Renamed', 'the new value no longer misses');
  t.is((await f.Post.getById(1))?.slug, 'renamed');
  t.is((await f.Post.getByName('Post 1'))?.slug, 'renamed');
});

forEachStore(test, 'save() of a new row inserts it and flushes cached misses of its keys', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  t.is(await f.Post.get('fresh'), undefined);
  t.is(await f.Post.getByName('Fresh'), undefined);
  t.is(await f.Post.getById(4), undefined);
  const post = f.Post.fromJson({ slug: 'fresh', name: 'Fresh', title: 'T' });
  f.reset();
  await post.save();
  t.is(post.id, 4);
  t.is(f.store.calls.deleteMany, 1);
  t.is((await f.Post.get('fresh'))?.id, 4);
  t.is((await f.Post.getByName('Fresh'))?.id, 4);
  t.is((await f.Post.getById(4))?.slug, 'fresh');
  t.is((await f.knex('posts').where('slug', 'fresh').first()).name, 'Fresh');
});

forEachStore(test, 'delete() removes the row and flushes its keys', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const post = (await f.Post.get('post-2'))!;
  await f.Post.getById(2);
  await f.Post.getByName('Post 2');
  f.reset();
  t.is(await post.delete(), 1);
  t.is(f.store.calls.deleteMany, 1);
  t.is(await f.Post.get('post-2'), undefined);
  t.is(await f.Post.getById(2), undefined);
  t.is(await f.Post.getByName('Post 2'), undefined);
  t.is(await f.knex('posts').where('id', 2).first(), undefined);
});

forEachStore(test, 'writes the cache cannot see (another program’s) stay until flush(row) or flushAll()', async (t, kind) => {
  // One SQLite file: the cache reads through a knex; a driver connection of its own, outside knex, stands for
  // another program writing to the database.
  const s = await twoConnections(t, kind);
  await s.Reader.get('post-1');
  await s.Reader.get('post-2');
  const program = new Database(s.file!);
  t.teardown(() => program.close());
  program.prepare('update posts set title = ?').run('raw');
  t.is((await s.Reader.get('post-1'))?.title, 'Title 1', 'stale: the write went around the cache');
  s.store.resetCounts();
  await s.Reader.flush({ id: 1, slug: 'post-1', name: 'Post 1' });
  t.is(s.store.calls.deleteMany, 1);
  t.is((await s.Reader.get('post-1'))?.title, 'raw');
  t.is((await s.Reader.get('post-2'))?.title, 'Title 2');
  s.store.resetCounts();
  await s.Reader.flushAll();
  t.deepEqual(s.store.calls, { deleteMany: 1 }, 'the generation and the table version, in one call');
  t.deepEqual(
    s.store.keysDeleted.map((keys) => keys.map(unscoped)),
    [['{oc:posts}:gen', '{oc:posts}:tv']],
  );
  t.is((await s.Reader.get('post-2'))?.title, 'raw');
  t.is((await s.Reader.get('post-1'))?.title, 'raw');
  await t.throwsAsync(() => s.Reader.flush(null as never), { instanceOf: TypeError });
});

forEachStore(test, 'reads with a transaction go to the DB through it and never touch the cache', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  await f.Post.transaction(async (trx) => {
    await f.Post.query(trx).patch({ title: 'in trx' }).where('id', 1);
    f.reset();
    t.is((await f.Post.get('post-1', trx))?.title, 'in trx');
    t.deepEqual(
      (await f.Post.getMany(['post-2', 'post-1'], trx)).map((p) => p?.id),
      [2, 1],
    );
    t.is((await f.Post.getById(3, trx))?.slug, 'post-3');
    t.is(await f.Post.getBy('name', 'nope', trx), undefined);
    t.deepEqual(f.store.calls, {});
    t.is(f.selects().length, 4);
  });
  t.is((await f.Post.get('post-1'))?.title, 'in trx');
});

forEachStore(test, 'a store that throws never fails a read: get falls back to the DB and onError hears of it', async (t, kind) => {
  const errors: string[] = [];
  const f = await makeFixture(t, { kind, onError: (error, context) => errors.push(`${context.operation}: ${String(error)}`) });
  f.store.failing = true;
  t.is((await f.Post.get('post-1'))?.name, 'Post 1');
  t.deepEqual(
    (await f.Post.getMany(['post-2', 'nope'])).map((p) => p?.id),
    [2, undefined],
  );
  t.is(f.selects().length, 2);
  t.true(errors.some((e) => e.startsWith('getMany: Error: store down')));
  const post = (await f.Post.getById(3))!;
  post.title = 'written while the store is down';
  await post.save();
  t.is((await f.knex('posts').where('id', 3).first()).title, 'written while the store is down');
  t.true(errors.some((e) => /deleteMany|store/.test(e)));
});

forEachStore(test, 'a store that never answers is bypassed after the timeout', async (t, kind) => {
  const errors: string[] = [];
  const f = await makeFixture(t, { kind, timeout: 20, onError: (error) => errors.push(String(error)) });
  f.store.hang();
  t.is((await f.Post.get('post-1'))?.name, 'Post 1');
  t.regex(errors[0] ?? '', /getMany timed out after 20 ms/);
});

forEachStore(test, 'ttl and missTtl reach the store; statics override mixin options', async (t, kind) => {
  const f = await makeFixture(t, { kind, ttl: 5000, missTtl: 700 });
  await f.Post.getMany(['post-1', 'nope']);
  const ttls = [...f.store.ttls.entries()]
    .filter(([key]) => key.includes(':k:'))
    .map(([, ttl]) => ttl)
    .sort();
  t.deepEqual(ttls, [5000, 700].sort());
  class Short extends f.Post {
    static override cacheTtl = 42;
    static override cacheMissTtl = 7;
  }
  f.store.ttls.clear();
  await Short.getMany(['post-2', 'nope-2']);
  const shortTtls = [...f.store.ttls.entries()]
    .filter(([key]) => key.includes(':k:'))
    .map(([, ttl]) => ttl)
    .sort();
  t.deepEqual(shortTtls, [42, 7].sort());
});

test('statics a model changes after its first lookup are read by the next one', async (t) => {
  const f = await makeFixture(t);
  class Changing extends f.Post {}
  await Changing.get('post-1');
  f.reset();
  await Changing.get('post-1');
  t.is(f.selects().length, 0, 'warm');
  Changing.cacheVersion = 2;
  await Changing.get('post-1');
  t.is(f.selects().length, 1, 'a new cacheVersion reads entries of its own');
  await t.throwsAsync(() => Changing.getBy('title', 'Title 2'), { instanceOf: TypeError, message: /not a cache key/ });
  Changing.cacheKeys = ['slug', 'name', 'title'];
  t.is((await Changing.getBy('title', 'Title 2'))?.id, 2, 'a key added to cacheKeys can be looked up');
});

test("a cacheStore getter of the app in front of the mixin may read the mixin's own (super.cacheStore)", async (t) => {
  const f = await makeFixture(t);
  let read = 0;
  class Wrapped extends f.Post {
    static override get cacheStore(): Keyv {
      read++;
      return super.cacheStore;
    }
  }
  t.is(Wrapped.cacheStore, f.store, 'the mixin store, through the getter');
  await Wrapped.get('post-1');
  f.reset();
  t.is((await Wrapped.get('post-1'))?.id, 1);
  t.deepEqual(f.selects(), [], 'warm, in the mixin store');
  t.true(read > 0);
});

test('cacheVersion and cacheStore statics give a model its own entries', async (t) => {
  const f = await makeFixture(t);
  await f.Post.get('post-1');
  const other = new Keyv();
  class V2 extends f.Post {
    static override cacheVersion = 2;
  }
  class Elsewhere extends f.Post {
    static override cacheStore = other;
  }
  f.reset();
  await V2.get('post-1');
  await Elsewhere.get('post-1');
  t.is(f.selects().length, 2, 'neither reads the entry of version 1 in the shared store');
  t.true([...(other.store as Map<string, unknown>).keys()].length > 0);
  t.is(Elsewhere.cacheStore, other, 'cacheStore reads back the Keyv set');
  t.is(f.Post.cacheStore, f.store, 'and is the mixin store where none is set');
  t.is(V2.cacheStore, f.store, 'subclasses inherit it');
  const assigned = new Keyv();
  V2.cacheStore = assigned;
  t.is(V2.cacheStore, assigned, 'assignment works like the static field');
  t.is(f.Post.cacheStore, f.store, 'without touching the parent');
  await V2.get('post-2');
  t.true([...(assigned.store as Map<string, unknown>).keys()].length > 0);
  // assigned on the class CachedModel() made (its own accessor gives way), for every model built on it
  const Base = CachedModel(Model, { store: f.store });
  class OnBase extends Base {
    static override tableName = 'posts';
    static override cacheKeys = ['slug'];
  }
  OnBase.knex(f.knex);
  const onBase = new Keyv();
  Base.cacheStore = onBase;
  t.is(OnBase.cacheStore, onBase);
  await OnBase.get('post-3');
  t.true([...(onBase.store as Map<string, unknown>).keys()].length > 0);
  // assigned again: now a plain write of the class's own property, which no accessor sees, and still read
  const again = new Keyv();
  V2.cacheStore = again;
  Base.cacheStore = again;
  await V2.get('post-4');
  await OnBase.get('post-5');
  t.is(V2.cacheStore, again);
  t.is(OnBase.cacheStore, again);
  const keys = [...(again.store as Map<string, unknown>).keys()];
  t.true(keys.some((key) => key.includes('post-4')) && keys.some((key) => key.includes('post-5')), 'both read through the store assigned last');
});

forEachStore(test, 'cacheStore is the Keyv: the low-level API of the seed (a list cached by hand, flushed on save)', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const store = f.Post.cacheStore;
  t.is(store, f.store);
  await store.set('all-posts', ['post-1', 'post-2']);
  t.deepEqual(await store.get('all-posts'), ['post-1', 'post-2']);
  await store.setMany([
    { key: 'a', value: 1 },
    { key: 'b', value: 2 },
  ]);
  t.deepEqual(await store.getMany(['a', 'b']), [1, 2]);
  t.true(await store.delete('all-posts'));
  t.is(await store.get('all-posts'), undefined);
  await f.Post.get('post-1');
  t.is((await f.Post.get('post-1'))?.id, 1, 'entries of its own keep working next to the app’s');
});

forEachStore(test, 'bindKnex subclasses share settings and entries with their parent', async (t, kind) => {
  const f = await makeFixture(t, { kind });
  const Bound = f.Post.bindKnex(f.knex);
  await f.Post.get('post-1');
  f.reset();
  t.is((await Bound.get('post-1'))?.id, 1);
  t.true((await Bound.get('post-1')) instanceof Bound);
  t.is(f.selects().length, 0);
  const post = (await Bound.get('post-1'))!;
  post.title = 'via bound';
  await post.save();
  t.is((await f.Post.get('post-1'))?.title, 'via bound');
});

test('works with nothing configured: the default store is in memory', async (t) => {
  const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await knex.schema.createTable('posts', POSTS_DDL);
  await knex('posts').insert({ slug: 'hello-world', name: 'Hello' });
  class Post extends CachedModel(Model) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug', 'name'];
    declare slug: string;
  }
  Post.knex(knex);
  let selects = 0;
  knex.on('query', () => selects++);
  t.is((await Post.get('hello-world'))?.slug, 'hello-world');
  t.is((await Post.get('hello-world'))?.slug, 'hello-world');
  t.is(selects, 1);
  await knex.destroy();
});
