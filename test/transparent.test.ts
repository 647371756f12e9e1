import test from 'ava';
import { Model, QueryBuilder } from 'objection';
import type { CachedQueryBuilder } from 'objection-cache';
import { makeBlog } from './helpers/blog.js';
import { forEachSetup, forEachStore, useStores } from './helpers/stores.js';

useStores(test);

async function blogWithCachedQueries(t: Parameters<typeof makeBlog>[0], kind: Parameters<typeof makeBlog>[1], db?: Parameters<typeof makeBlog>[2]) {
  const b = await makeBlog(t, kind, db);
  (b.Post as { cacheQueries?: boolean }).cacheQueries = true;
  return b;
}

forEachStore(test, 'with cacheQueries, findById and findOne on a cache key are served by the natural-key cache', async (t, kind) => {
  const b = await blogWithCachedQueries(t, kind);
  const reads = {
    findById: () => b.Post.query().findById(2),
    findByIdString: () => b.Post.query().findById('2'),
    findOneSlug: () => b.Post.query().findOne({ slug: 'post-3' }),
    whereFirst: () => b.Post.query().where('name', 'Post 4').first(),
    qualified: () => b.Post.query().where('posts.slug', 'post-1'),
    whereIn: () => b.Post.query().whereIn('id', [1, 3]),
    missing: () => b.Post.query().findOne({ slug: 'nope' }),
  };
  const cold: Record<string, unknown> = {};
  for (const [name, read] of Object.entries(reads)) cold[name] = JSON.parse(JSON.stringify((await read()) ?? null));
  b.reset();
  for (const [name, read] of Object.entries(reads)) {
    const result = await read();
    t.deepEqual(JSON.parse(JSON.stringify(result ?? null)), cold[name], name);
    if (result && !Array.isArray(result)) t.true(result instanceof b.Post, `${name}: a model instance`);
  }
  t.deepEqual(b.selects(), [], 'no DB query when warm');
  t.is(b.store.calls.getMany, Object.keys(reads).length, 'one store read each');

  // The same rows as Post.get(): one cache serves both.
  await b.Post.query().patch({ title: 'changed' }).where('id', 2);
  t.is((await b.Post.query().findById(2))?.title, 'changed');
  t.is((await b.Post.getById(2))?.title, 'changed');
});

forEachStore(test, 'anything more than a key lookup runs as usual', async (t, kind) => {
  const b = await blogWithCachedQueries(t, kind);
  const reads = [
    () => b.Post.query().findById(1).select('title'),
    () => b.Post.query().findOne({ slug: 'post-1', title: 'Title 1' }),
    () => b.Post.query().where('title', 'Title 1').first(),
    () => b.Post.query().where('id', '>', 1),
    () => b.Post.query().findById(1).forUpdate(),
    () => b.Post.query().whereNot('id', 1),
    () => b.Post.query().findById(1).withGraphJoined('author'),
    () => b.Post.query().where('id', 1).orderBy('id').limit(1).offset(1),
  ];
  for (const read of reads) await read();
  b.reset();
  for (const read of reads) await read();
  t.is(b.selects().length, reads.length, 'each ran its own query');
});

forEachStore(test, 'without cacheQueries, query().findById() still asks the DB', async (t, kind) => {
  const b = await makeBlog(t, kind);
  await b.Post.query().findById(1);
  b.reset();
  await b.Post.query().findById(1);
  t.is(b.selects().length, 1);
});

forEachSetup(test, '$relatedQuery of a belongs-to-one relation to a cached model is one cache lookup, and fresh after writes', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const post = (await b.Post.getById(1))!;
  t.is((await post.$relatedQuery('author'))?.handle, 'ann');
  b.reset();
  const author = await post.$relatedQuery('author');
  t.true(author instanceof b.Author);
  t.is(author?.handle, 'ann');
  t.deepEqual(b.selects(), [], 'warm: no DB query');
  t.is(b.store.calls.getMany, 1);
  await b.Author.query().patch({ name: 'Annie' }).where('id', 1);
  t.is((await post.$relatedQuery('author'))?.name, 'Annie');
  await b.Post.transaction(async (trx) => {
    await b.Author.query(trx).patch({ name: 'In trx' }).where('id', 1);
    b.reset();
    t.is((await post.$relatedQuery('author', trx))?.name, 'In trx', 'a transaction reads through itself');
    t.deepEqual(b.store.calls, {});
  });
});

forEachSetup(test, 'withGraphFetched of belongs-to-one relations batches through the cache: one store read for all owners', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const direct = JSON.stringify(await b.Post.query().withGraphFetched('author').orderBy('id'));
  b.reset();
  t.is(JSON.stringify(await b.Post.query().withGraphFetched('author').orderBy('id')), direct);
  t.is(b.selects().filter((sql) => /authors/.test(sql)).length, 0, 'the authors came from the cache (filled by the first run)');
  t.is(b.store.calls.getMany, 1, 'one store read for both authors');
  await b.Author.query().patch({ name: 'Renamed' }).where('handle', 'bob');
  const after = await b.Post.query().withGraphFetched('author').orderBy('id');
  t.is(after[3]!.author?.name, 'Renamed');
  t.is(after[0]!.author?.name, 'Ann');
});

test('a subclass with a query builder of its own keeps cacheQueries, cached relation lookups and cache()', async (t) => {
  const b = await makeBlog(t);
  // A builder that extends Objection's, not the cache's: set on the subclass, after CachedModel() ran.
  class ScopedQueryBuilder<M extends Model, R = M[]> extends QueryBuilder<M, R> {
    popular() {
      return this.where('views', '>', 2);
    }
  }
  class Scoped extends b.Post {
    static override QueryBuilder = ScopedQueryBuilder as unknown as typeof QueryBuilder;
    static override cacheQueries = true;
  }
  const rows = (await (Scoped.query() as unknown as ScopedQueryBuilder<Scoped>).popular().orderBy('id')) as Scoped[];
  t.deepEqual(
    rows.map((p) => p.id),
    [3, 4],
    'its own methods work',
  );
  t.true(Scoped.query() instanceof ScopedQueryBuilder, 'queries are built by a subclass of it');

  await Scoped.query().findById(2);
  const post = (await Scoped.query().findById(1))!;
  await post.$relatedQuery('author');
  // Its types are the app's to declare: here both builders' methods.
  const list = () => (Scoped.query() as unknown as ScopedQueryBuilder<Scoped> & CachedQueryBuilder<Scoped>).popular().orderBy('id').cache();
  await list();
  b.reset();
  t.is((await Scoped.query().findById(2))?.slug, 'post-2');
  t.is((await post.$relatedQuery('author'))?.handle, 'ann');
  t.deepEqual(
    (await list()).map((p) => p.id),
    [3, 4],
  );
  t.deepEqual(b.selects(), [], 'warm: findById, the relation and the cached list ask the DB nothing');
  await Scoped.query().patch({ views: 9 }).where('id', 1);
  t.deepEqual(
    (await list()).map((p) => p.id),
    [1, 3, 4],
    'and a write invalidates the cached list',
  );
});
