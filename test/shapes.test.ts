import test from 'ava';
import { Model, raw } from 'objection';
import { CachedModel } from 'objection-cache';
import { makeBlog } from './helpers/blog.js';
import { makeKnex } from './helpers/databases.js';
import { makeFixture, makePostClass, POSTS_DDL, TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { forEachSetup, forEachStore, makeStore, twoProcessStores, useStores } from './helpers/stores.js';

useStores(test);

forEachSetup(test, 'rolling deploy: a write by either cacheVersion flushes the entries of the other, across processes', async (t, kind, db) => {
  const f = await makeFixture(t, { kind, db });
  const [storeOld, storeNew] = await twoProcessStores(t, kind);
  class OldApp extends makePostClass(storeOld) {
    static override cacheVersion = 1;
  }
  class NewApp extends makePostClass(storeNew) {
    static override cacheVersion = 2;
  }
  OldApp.knex(f.knex);
  NewApp.knex(f.knex);
  const warm = async () => {
    for (const App of [OldApp, NewApp]) {
      await App.getMany(['post-1', 'post-2', 'renamed']);
      await App.getById(1);
      await App.getByName('Post 2');
      await App.query().orderBy('id').cache();
    }
  };
  await warm();
  await NewApp.query().patch({ title: 'by the new app', slug: 'renamed' }).where('id', 1);
  t.is(await OldApp.get('post-1'), undefined, "the old app's entry of the old slug is gone");
  t.is((await OldApp.get('renamed'))?.title, 'by the new app', "the old app's cached miss of the new slug is gone");
  t.is((await OldApp.getById(1))?.title, 'by the new app');
  t.is((await OldApp.query().orderBy('id').cache())[0]?.title, 'by the new app');
  await warm();
  await OldApp.fromJson({ id: 2 }).$query().patch({ name: 'Renamed by the old app' });
  t.is(await NewApp.getByName('Post 2'), undefined);
  t.is((await NewApp.get('post-2'))?.name, 'Renamed by the old app');
  await OldApp.query().deleteById(2);
  t.is(await NewApp.get('post-2'), undefined);
  t.is(await NewApp.getById(2), undefined);
});

forEachStore(test, 'cached queries: a subquery over a cached model nothing has used yet, and a CTE, are cached and invalidated', async (t, kind) => {
  const b = await makeBlog(t, kind);
  // Classes of their own, so that no query or lookup has set them up in this process.
  class Writer extends CachedModel(Model, { store: b.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'authors';
  }
  class Article extends CachedModel(Model, { store: b.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'posts';
    declare id: number;
    declare views: number;
  }
  Writer.knex(b.knex);
  Article.knex(b.knex);
  const byBob = () => Article.query().whereIn('authorId', Writer.query().select('id').where('name', 'Bob')).orderBy('id');
  const flagged = () =>
    Article.query()
      .with('flagged', (qb) => qb.select('id').from('posts').where('views', '>', 2))
      .whereIn('id', (qb) => qb.select('id').from('flagged'))
      .orderBy('id');
  const ids = (rows: Article[]) => rows.map((row) => row.id);
  t.deepEqual(ids(await byBob().cache()), [3, 4]);
  t.deepEqual(ids(await flagged().cache()), [3, 4]);
  b.reset();
  t.deepEqual(ids(await byBob().cache()), [3, 4]);
  t.deepEqual(ids(await flagged().cache()), [3, 4]);
  t.deepEqual(b.selects(), [], 'warm');
  await Writer.query().patch({ name: 'Bob' }).where('id', 1);
  t.deepEqual(ids(await byBob().cache()), [1, 2, 3, 4], 'a write to the subquery’s table drops the result');
  await Article.query().patch({ views: 9 }).where('id', 1);
  t.deepEqual(ids(await flagged().cache()), [1, 3, 4], 'a write to the table the CTE reads drops the result');
});

forEachStore(test, 'a raw() patch of a key column over more rows than SQLite binds in one statement commits and flushes every key', async (t, kind) => {
  const errors: unknown[] = [];
  const f = await makeFixture(t, { kind, rows: 0, onError: (error) => errors.push(error) });
  await f.knex.raw(
    "insert into posts (slug, name) with recursive n(x) as (select 1 union all select x + 1 from n where x < 40000) select 'p-' || x, 'n-' || x from n",
  );
  await f.Post.getMany(['p-1', 'p-40000', 'p-1-x', 'p-40000-x']);
  await f.Post.query().patch({ slug: raw("slug || '-x'") }).where('id', '>', 0);
  t.deepEqual((await f.Post.getMany(['p-1', 'p-40000', 'p-1-x', 'p-40000-x'])).map((p) => p?.id), [undefined, undefined, 1, 40000]);
  t.deepEqual(errors, [], 'every key read back and flushed, not the model whole');
});

test('a write never fails after it ran because the cache could not read the keys it set: the model is flushed whole instead', async (t) => {
  const errors: string[] = [];
  const f = await makeFixture(t, { onError: (error, context) => errors.push(`${context.operation}: ${String(error)}`) });
  let armed = false;
  class Fragile extends f.Post {
    static override query(...args: Parameters<typeof f.Post.query>) {
      // the write's own builder is made first; the cache's re-read of the keys it set is the next query
      if (armed) {
        armed = false;
        throw new Error('the re-read failed');
      }
      return super.query(...args);
    }
  }
  await f.Post.getMany(['post-1', 'post-2', 'post-1-x']);
  const write = Fragile.query().patch({ slug: raw("slug || '-x'") }).where('id', 1);
  armed = true;
  t.is(await write, 1);
  t.deepEqual(errors, ['afterUpdate: Error: the re-read failed']);
  t.is(await f.Post.get('post-1'), undefined);
  t.is((await f.Post.get('post-1-x'))?.id, 1);
  t.is((await f.knex('posts').where('id', 1).first()).slug, 'post-1-x');
});

forEachStore(
  test,
  'PostgreSQL: a schema-qualified table (app.posts) is read, written in transactions and invalidated like any other',
  async (t, kind) => {
    const knex = await makeKnex(t, 'postgres');
    await knex.raw('create schema app');
    await knex.schema.withSchema('app').createTable('posts', POSTS_DDL);
    for (let i = 1; i <= 3; i++) await knex('app.posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}` });
    const store = await makeStore(t, kind);
    class AppPost extends makePostClass(store) {
      static override tableName = 'app.posts';
    }
    AppPost.knex(knex);
    await AppPost.getMany(['post-1', 'post-2', 'post-3']);
    t.deepEqual((await AppPost.query().orderBy('id').cache()).map((p) => p.title), ['Title 1', 'Title 2', 'Title 3']);
    await AppPost.transaction(async (trx) => {
      await AppPost.query(trx).patch({ title: 'patched' }).where('id', 1);
      await AppPost.query(trx).delete().where('id', 2);
      await AppPost.fromJson({ id: 3 }).$query(trx).patch({ slug: 'moved' });
    });
    t.is((await AppPost.get('post-1'))?.title, 'patched');
    t.is(await AppPost.get('post-2'), undefined);
    t.is(await AppPost.get('post-3'), undefined);
    t.is((await AppPost.get('moved'))?.id, 3);
    t.deepEqual((await AppPost.query().orderBy('id').cache()).map((p) => p.title), ['patched', 'Title 3']);
  },
);
