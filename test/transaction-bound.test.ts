import test from 'ava';
import type { Knex } from 'knex';
import { transaction } from 'objection';
import { cached } from 'objection-cache';
import { makeBlog } from './helpers/blog.js';
import { forEachSetup, useStores } from './helpers/stores.js';
import { twoConnections } from './helpers/two-connections.js';

useStores(test);

type Setup = Awaited<ReturnType<typeof twoConnections>>;
type Read = (slug: string) => Promise<{ title: string } | undefined>;
type Run = (s: Setup, body: (read: Read, trx: Knex.Transaction) => Promise<void>) => Promise<void>;

const idOf = (slug: string) => Number(slug.replace('post-', ''));

/** Every way a read can be given a transaction; each opens one, runs `body` with a reader bound to it. */
const forms: [string, Run][] = [
  ['get(key, trx)', (s, body) => s.Writer.transaction((trx) => body((slug) => s.Writer.get(slug, trx), trx))],
  ['bindKnex(trx).get()', (s, body) => s.Writer.transaction((trx) => body((slug) => s.Writer.bindKnex(trx).get(slug), trx))],
  [
    'bindTransaction(trx).getMany()',
    (s, body) => s.Writer.transaction((trx) => body(async (slug) => (await s.Writer.bindTransaction(trx).getMany([slug]))[0], trx)),
  ],
  ['the class transaction(Post, cb) hands out', (s, body) => transaction(s.Writer, (Bound, trx) => body((slug) => Bound.getBy('slug', slug), trx!))],
  [
    'query(trx).findOne() with cacheQueries',
    (s, body) => s.Writer.transaction((trx) => body(async (slug) => await s.Writer.query(trx).findOne({ slug }), trx)),
  ],
  [
    'bindKnex(trx).query().findById() with cacheQueries',
    (s, body) => s.Writer.transaction((trx) => body(async (slug) => await s.Writer.bindKnex(trx).query().findById(idOf(slug)), trx)),
  ],
  ['$query(trx)', (s, body) => s.Writer.transaction((trx) => body(async (slug) => await s.Writer.fromJson({ id: idOf(slug) }).$query(trx), trx))],
];

class Rollback extends Error {}

for (const [form, run] of forms) {
  forEachSetup(test, `${form}: reads through the transaction, sees its writes, never reads or fills the cache; others never see them`, async (t, kind, db) => {
    const s = await twoConnections(t, kind, db);
    (s.Writer as { cacheQueries?: boolean }).cacheQueries = true;
    await s.Reader.get('post-1'); // cached, committed
    const outcome = run(s, async (read, trx) => {
      await s.Writer.query(trx).patch({ title: 'uncommitted' }).whereIn('id', [1, 2]);
      s.store.resetCounts();
      t.is((await read('post-1'))?.title, 'uncommitted', 'a cached key: the transaction sees its own write');
      t.is((await read('post-2'))?.title, 'uncommitted', 'a cold key: read through the transaction');
      t.is((await read('post-2'))?.title, 'uncommitted');
      t.deepEqual(s.store.calls, {}, 'no store call from inside the transaction');
      // Another connection, meanwhile: the committed rows, never the transaction's.
      t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
      t.is((await s.Reader.get('post-2'))?.title, 'Title 2');
      throw new Rollback();
    });
    await t.throwsAsync(outcome, { instanceOf: Rollback });
    t.is((await s.Reader.get('post-2'))?.title, 'Title 2', 'after the rollback nobody reads the rolled-back row');
    t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
    t.is((await s.readerKnex('posts').where('id', 2).first()).title, 'Title 2');
    await run(s, async (read, trx) => {
      await s.Writer.query(trx).patch({ title: 'committed' }).where('id', 2);
      t.is((await read('post-2'))?.title, 'committed');
      t.is((await s.Reader.get('post-2'))?.title, 'Title 2', 'not before the commit');
    });
    t.is((await s.Reader.get('post-2'))?.title, 'committed', 'after the commit');
  });
}

forEachSetup(test, 'writes through a class bound to a transaction flush after the outermost commit, and not after a rollback', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  await s.Reader.getMany(['post-1', 'post-2', 'post-3']);
  s.store.resetCounts();
  await transaction(s.Writer, async (Bound) => {
    await Bound.query().patch({ title: 'bound' }).where('id', 1);
    await Bound.fromJson({ id: 2 }).$query().patch({ title: 'bound 2' });
    await Bound.flush({ id: 3, slug: 'post-3', name: 'Post 3' });
    await Bound.flushAll();
    t.is(s.store.calls.deleteMany ?? 0, 0, 'nothing is flushed before the commit');
    t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
  });
  t.is(s.store.calls.deleteMany, 1, 'one flush at the commit');
  t.is((await s.Reader.get('post-1'))?.title, 'bound');
  t.is((await s.Reader.get('post-2'))?.title, 'bound 2');
  s.store.resetCounts();
  await t.throwsAsync(
    transaction(s.Writer, async (Bound) => {
      await Bound.query().patch({ title: 'rolled back' }).where('id', 1);
      throw new Rollback();
    }),
    { instanceOf: Rollback },
  );
  t.is(s.store.calls.deleteMany ?? 0, 0, 'a rollback flushes nothing');
  t.is((await s.Reader.get('post-1'))?.title, 'bound');
});

forEachSetup(test, 'relations and cached() through a transaction: read through it, nothing cached', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  await b.warm();
  const post = (await b.Post.getById(1))!;
  await t.throwsAsync(
    b.knex.transaction(async (trx) => {
      await b.Author.query(trx).patch({ name: 'Renamed in trx' }).where('id', 1);
      b.reset();
      t.is((await post.$relatedQuery('author', trx))?.name, 'Renamed in trx');
      t.is((await b.Post.bindKnex(trx).query().withGraphFetched('author').findById(1))?.author?.name, 'Renamed in trx');
      t.is((await b.Post.query(trx).withGraphFetched('author').cache().findById(2))?.author?.name, 'Renamed in trx');
      const BoundAuthor = b.Author.bindKnex(trx);
      t.is(await cached('author-name', async () => (await BoundAuthor.query().findById(1))?.name, { dependsOn: [BoundAuthor] }), 'Renamed in trx');
      t.deepEqual(b.store.calls, {}, 'no store call from inside the transaction');
      t.is((await post.$relatedQuery('author'))?.name, 'Ann', 'outside the transaction: the committed row');
      throw new Rollback();
    }),
    { instanceOf: Rollback },
  );
  t.is((await post.$relatedQuery('author'))?.name, 'Ann');
  t.is(await cached('author-name', async () => (await b.Author.query().findById(1))?.name, { dependsOn: [b.Author] }), 'Ann');
  await b.check();
});
