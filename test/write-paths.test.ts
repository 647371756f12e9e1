import test from 'ava';
import { raw } from 'objection';
import { makeBlog } from './helpers/blog.js';
import { forEachSetup, useStores } from './helpers/stores.js';
import { unscoped } from './helpers/keys.js';

useStores(test);

// Each write path of Objection, on a warm cache (hits and cached misses by every key): afterwards every cached
// read equals a direct DB read. `check()` fails on a build that does not flush that path.

type Blog = Awaited<ReturnType<typeof makeBlog>>;

const paths: [string, (b: Blog) => PromiseLike<unknown>, { slug?: string[]; name?: string[]; handle?: string[] }?][] = [
  ['query().insert()', (b) => b.Post.query().insert({ slug: 'new', name: 'New' }), { slug: ['new'], name: ['New'] }],
  ['query().insertAndFetch()', (b) => b.Post.query().insertAndFetch({ slug: 'new', name: 'New' }), { slug: ['new'] }],
  ['patch().where()', (b) => b.Post.query().patch({ title: 'bulk' }).where('views', '>', 1)],
  ['update().where()', (b) => b.Post.query().update({ slug: 'upd', name: 'Upd', title: 't' }).where('id', 2), { slug: ['upd'] }],
  ['patch() renaming a key: where slug = a, set slug = b', (b) => b.Post.query().patch({ slug: 'post-9' }).where('slug', 'post-1'), { slug: ['post-9'] }],
  [
    'patch() setting a key with raw()',
    (b) =>
      b.Post.query()
        .patch({ slug: raw("concat(slug, '-x')") as never })
        .where('id', '<=', 2),
    { slug: ['post-1-x', 'post-2-x'] },
  ],
  ['findById().patch()', (b) => b.Post.query().findById(3).patch({ title: 'by id' })],
  ['patchAndFetchById()', (b) => b.Post.query().patchAndFetchById(3, { name: 'Renamed 3' }), { name: ['Renamed 3'] }],
  ['updateAndFetchById()', (b) => b.Post.query().updateAndFetchById(1, { slug: 's1', name: 'n1', title: 't' }), { slug: ['s1'], name: ['n1'] }],
  ['deleteById()', (b) => b.Post.query().deleteById(2)],
  ['delete().where()', (b) => b.Post.query().delete().where('authorId', 1)],
  ['$query().patch()', async (b) => (await b.Post.query().findById(1))!.$query().patch({ slug: 'inst' }), { slug: ['inst'] }],
  [
    '$query().update()',
    async (b) => {
      const post = (await b.Post.query().findById(1))!;
      post.name = 'Whole';
      return post.$query().update();
    },
    { name: ['Whole'] },
  ],
  ['$query().delete()', async (b) => (await b.Post.query().findById(4))!.$query().delete()],
  [
    'insertGraph()',
    (b) =>
      b.Author.query().insertGraph({
        handle: 'cy',
        name: 'Cy',
        posts: [
          { slug: 'g1', name: 'G1' },
          { slug: 'g2', name: 'G2' },
        ],
      } as never),
    { slug: ['g1', 'g2'], handle: ['cy'] },
  ],
  [
    'upsertGraph()',
    (b) =>
      b.Author.query().upsertGraph({
        id: 1,
        name: 'Ann 2',
        posts: [
          { id: 1, slug: 'up1' },
          { slug: 'up-new', name: 'Up new' },
        ],
      } as never),
    { slug: ['up1', 'up-new'] },
  ],
  [
    'relatedQuery().patch()',
    (b) =>
      b.Author.relatedQuery('posts')
        .for(1)
        .patch({ title: 'related' } as never),
  ],
  ['relatedQuery().delete()', (b) => b.Author.relatedQuery('posts').for(2).delete()],
  [
    'relatedQuery().insert()',
    (b) =>
      b.Author.relatedQuery('posts')
        .for(2)
        .insert({ slug: 'rel', name: 'Rel' } as never),
    { slug: ['rel'] },
  ],
  ['$relatedQuery().patch()', async (b) => (await b.Author.query().findById(1))!.$relatedQuery('posts').patch({ slug: raw("concat(slug, '!')") } as never)],
  ['$relatedQuery().relate() (has many: patches the post)', async (b) => (await b.Author.query().findById(1))!.$relatedQuery('posts').relate(4)],
  ['$relatedQuery().unrelate() (has many)', async (b) => (await b.Author.query().findById(1))!.$relatedQuery('posts').unrelate().where('posts.id', 1)],
  ['$relatedQuery().relate() (belongs to one: patches the owner)', async (b) => (await b.Post.query().findById(1))!.$relatedQuery('author').relate(2)],
  ['$relatedQuery().unrelate() (belongs to one)', async (b) => (await b.Post.query().findById(3))!.$relatedQuery('author').unrelate()],
  ['$relatedQuery().relate() (many to many: post row unchanged)', async (b) => (await b.Post.query().findById(1))!.$relatedQuery('tags').relate(1)],
  [
    '$relatedQuery("author").patch()',
    async (b) => (await b.Post.query().findById(1))!.$relatedQuery('author').patch({ handle: 'annie' }),
    { handle: ['annie'] },
  ],
  [
    'insert().onConflict().merge() (an upsert rewrites an existing row)',
    (b) => b.Post.query().insert({ slug: 'post-1', name: 'Merged name', title: 'merged' }).onConflict('slug').merge(),
    { name: ['Merged name'] },
  ],
  ['save() inserting', (b) => b.Post.fromJson({ slug: 'saved', name: 'Saved' }).save(), { slug: ['saved'] }],
  ['delete() of an instance', async (b) => (await b.Post.query().findById(2))!.delete()],
];

for (const [label, write, extra] of paths) {
  forEachSetup(test, `${label} leaves no stale entry`, async (t, kind, db) => {
    const b = await makeBlog(t, kind, db);
    await b.warm(extra);
    await b.check('before:');
    await write(b);
    await b.check('after:');
  });
}

forEachSetup(test, 'a bulk patch of N rows costs one extra SELECT of their keys and one deleteMany, not N round trips', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  await b.knex('posts').insert(Array.from({ length: 200 }, (_, i) => ({ slug: `bulk-${i}`, name: `Bulk ${i}`, views: 100 })));
  await b.Post.getMany(Array.from({ length: 200 }, (_, i) => `bulk-${i}`));
  b.reset();
  const updated = await b.Post.query().patch({ title: 'bulk' }).where('views', 100);
  t.is(updated, 200);
  t.is(b.selects().length, 1);
  t.is(b.queries.length, 2, 'the SELECT of keys and the UPDATE itself');
  t.deepEqual(b.store.calls, { deleteMany: 1 });
  t.is(b.store.keysDeleted[0]!.length, 200 * 3 * 2 + 1, 'value and guard key of id, slug and name of each row, and the table version');
  t.is((await b.Post.get('bulk-7'))?.title, 'bulk');
});

forEachSetup(test, 'a delete of N rows costs one extra SELECT and one deleteMany', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  await b.warm();
  b.reset();
  t.is(await b.Post.query().delete().where('id', '>', 0), 4);
  t.is(b.selects().length, 1);
  t.deepEqual(b.store.calls, { deleteMany: 1 });
  await b.check();
});

forEachSetup(test, 'a write that matches no row flushes nothing and touches no store', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  b.reset();
  t.is(await b.Post.query().patch({ title: 'x' }).where('id', 999), 0);
  t.deepEqual(b.store.calls, {});
});

forEachSetup(test, 'a patch that changes no key column flushes only the old keys; one that does adds the new value', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  b.reset();
  await b.Post.query().patch({ slug: 'renamed' }).where('slug', 'post-1');
  const deleted = b.store.keysDeleted[0]!;
  t.is(deleted.length, (3 + 1) * 2 + 1, 'old id, slug and name, plus the new slug; value and guard each; the table version');
  t.true(deleted.map(unscoped).includes('{oc:posts}:tv'));
  t.true(deleted.some((key) => key.includes(':slug:=renamed')));
  t.true(deleted.some((key) => key.includes(':slug:=post-1')));
});

forEachSetup(test, 'deleteById() and findById().patch() of a row that does not exist write nothing and flush nothing', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  b.reset();
  t.is(await b.Post.query().deleteById(999), 0);
  t.is(await b.Post.query().findById(999).patch({ title: 'x' }), 0);
  await b.Post.transaction(async (trx) => {
    t.is(await b.Post.query(trx).deleteById(998), 0);
  });
  t.deepEqual(b.store.calls, {});
});

forEachSetup(test, 'a transaction writing two models flushes both in one store call (on a cluster, keys in two slots)', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  await b.warm();
  b.reset();
  await b.Post.transaction(async (trx) => {
    await b.Post.query(trx).patch({ title: 'both' }).where('id', 1);
    await b.Author.query(trx).patch({ name: 'Both' }).where('id', 1);
  });
  t.is(b.store.calls.deleteMany, 1);
  const keys = b.store.keysDeleted[0]!;
  t.true(keys.some((key) => unscoped(key).startsWith('{oc:posts}')) && keys.some((key) => unscoped(key).startsWith('{oc:authors}')));
  await b.check();
});
