import test, { type ExecutionContext } from 'ava';
import { Model, raw } from 'objection';
import { CachedModel, type CachedQueryBuilder } from 'objection-cache';
import { makeBlog } from './helpers/blog.js';
import type { Knex } from 'knex';
import { holdNextSql } from './helpers/gates.js';
import { twoConnections } from './helpers/two-connections.js';
import { makePostClass, TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { forEachSetup, forEachStore, twoProcessStores, useStores } from './helpers/stores.js';

useStores(test);

type Blog = Awaited<ReturnType<typeof makeBlog>>;

// Every query shape the issue names. Each runs cached and uncached; the two answers must be equal.
const QUERIES: Record<string, (b: Blog, cache: boolean) => PromiseLike<unknown>> = {
  list: (b, c) => on(b.Post.query().where('views', '>', 1).orderBy('id'), c),
  first: (b, c) => on(b.Post.query().orderBy('views', 'desc').first(), c),
  findOneByTitle: (b, c) => on(b.Post.query().findOne({ title: 'Title 2' }), c),
  empty: (b, c) => on(b.Post.query().where('title', 'no such title'), c),
  count: (b, c) => on(b.Post.query().count('* as n').first(), c),
  countByAuthor: (b, c) => on(b.Post.query().select('authorId').count('* as n').groupBy('authorId').orderBy('authorId'), c),
  resultSize: (b, c) => on(b.Post.query().where('views', '<', 4), c).resultSize(),
  page: (b, c) => on(b.Post.query().orderBy('id').page(1, 2), c),
  graph: (b, c) =>
    on(
      b.Post.query()
        .withGraphFetched('[author, tags(byLabel)]')
        .modifiers({ byLabel: (q) => q.orderBy('label') })
        .orderBy('id'),
      c,
    ),
  joined: (b, c) => on(b.Post.query().withGraphJoined('[author, tags]').orderBy(['posts.id', 'tags.id']), c),
  joinRelated: (b, c) => on(b.Post.query().joinRelated('author').where('author.handle', 'ann').orderBy('posts.id'), c),
  subquery: (b, c) => on(b.Post.query().whereIn('authorId', b.Author.query().select('id').where('name', 'Bob')).orderBy('id'), c),
  authorsWithPosts: (b, c) =>
    on(
      b.Author.query()
        .withGraphFetched('posts(ordered)')
        .modifiers({ ordered: (q) => q.orderBy('id') })
        .orderBy('id'),
      c,
    ),
};

function on<Q extends { cache(): Q }>(query: Q, cache: boolean): Q {
  return cache ? query.cache() : query;
}

/** A result as plain JSON (models through their toJSON), to compare cached and uncached answers. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null)) as unknown;
}

async function expectFresh(t: ExecutionContext, b: Blog, label: string): Promise<void> {
  for (const [name, query] of Object.entries(QUERIES)) {
    const cached = await query(b, true);
    const direct = await query(b, false);
    t.deepEqual(plain(cached), plain(direct), `${label}: ${name}`);
  }
}

forEachStore(test, 'a cached query answers exactly what the uncached query answers, and a warm one asks the DB nothing', async (t, kind) => {
  const b = await makeBlog(t, kind, 'sqlite', { cachedTags: true });
  await b.knex('post_tags').insert([
    { postId: 1, tagId: 1 },
    { postId: 1, tagId: 2 },
    { postId: 3, tagId: 2 },
  ]);
  await expectFresh(t, b, 'cold');
  await expectFresh(t, b, 'warm');
  b.reset();
  for (const query of Object.values(QUERIES)) await query(b, true);
  t.deepEqual(b.selects(), [], 'no query reached the DB');
  t.is(b.store.calls.getMany, Object.keys(QUERIES).length + 3 + 1, 'one store read per statement: 3 more for the graph relations, 1 for page()’s count');
  const [post] = await b.Post.query().orderBy('id').cache();
  t.true(post instanceof b.Post, 'model instances');
  const graph = await b.Post.query().withGraphFetched('author').findById(1).cache();
  t.true(graph?.author instanceof b.Author, 'relations are model instances too');
});

// Every write path that can change what a cached query reads: the model's table, a joined or eager-loaded
// relation's table, a many-to-many join table, writes in transactions, and writes outside Objection with the
// flush the README prescribes.
const WRITES: Record<string, (b: Blog) => PromiseLike<unknown>> = {
  insertPost: (b) => b.Post.query().insert({ slug: 'new', name: 'New', title: 'Title 2', views: 9, authorId: 2 }),
  patchPostTitle: (b) => b.Post.query().patch({ title: 'Title 2' }).where('id', 4),
  patchViewsRaw: (b) =>
    b.Post.query()
      .patch({ views: raw('views + 10') as never })
      .where('authorId', 1),
  deletePost: (b) => b.Post.query().deleteById(2),
  savePost: async (b) => {
    const post = (await b.Post.getById(3))!;
    post.authorId = 1;
    await post.save();
  },
  patchAuthor: (b) => b.Author.query().patch({ name: 'Bob' }).where('handle', 'ann'),
  renameAuthor: (b) => b.Author.query().patch({ handle: 'ann2' }).where('id', 1),
  insertAuthorGraph: (b) =>
    b.Author.query().insertGraph({ handle: 'cy', name: 'Cy', posts: [{ slug: 'cy-1', name: 'Cy 1', title: 'Title 2', views: 5 }] } as never),
  relateTag: (b) => b.Post.relatedQuery('tags').for(2).relate(1),
  unrelateTag: (b) => b.Post.relatedQuery('tags').for(1).unrelate().where('tags.id', 2),
  patchTag: (b) => b.Tag.query().patch({ label: 'z' }).where('id', 1),
  upsertGraph: (b) => b.Post.query().upsertGraph({ id: 3, tags: [{ id: 1 }] } as never, { relate: true, unrelate: true, noUpdate: ['tags'] } as never),
  transaction: (b) =>
    b.Post.transaction(async (trx) => {
      await b.Post.query(trx).patch({ views: 0 }).where('id', 1);
      await b.Post.relatedQuery('tags', trx).for(4).relate(2);
    }),
  rawWriteThenFlushAll: async (b) => {
    await b.knex('posts').update({ views: 7 });
    await b.Post.flushAll();
  },
  rawJoinRowsThenFlushTables: async (b) => {
    await b.knex('post_tags').insert({ postId: 4, tagId: 1 });
    await b.Post.flushTables('post_tags');
  },
};

for (const [name, write] of Object.entries(WRITES)) {
  forEachSetup(test, `after a write (${name}) every cached query answers as the DB does`, async (t, kind, db) => {
    const b = await makeBlog(t, kind, db, { cachedTags: true });
    await b.knex('post_tags').insert([
      { postId: 1, tagId: 1 },
      { postId: 1, tagId: 2 },
      { postId: 3, tagId: 2 },
    ]);
    await expectFresh(t, b, 'before');
    await write(b);
    await expectFresh(t, b, `after ${name}`);
  });
}

forEachStore(test, 'a write to an unrelated table keeps cached queries warm; a write to a table they read drops them', async (t, kind) => {
  const b = await makeBlog(t, kind, 'sqlite', { cachedTags: true });
  await QUERIES.list!(b, true);
  await QUERIES.graph!(b, true);
  await b.Tag.query().patch({ label: 'q' }).where('id', 1);
  b.reset();
  await QUERIES.list!(b, true);
  t.is(b.selects().length, 0, 'the post list does not read tags');
  await QUERIES.graph!(b, true);
  t.is(b.selects().length, 1, 'the graph reads tags: only its tags statement runs again');
  t.regex(b.selects()[0]!, /from `tags`/);
});

forEachSetup(test, 'a cached query in a transaction neither reads nor fills the cache; outside it, the commit invalidates', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  const list = (M: typeof s.Reader, trx?: Knex.Transaction) => M.query(trx).where('title', 'like', 'Title%').orderBy('id').cache();
  await list(s.Reader);
  await s.Writer.transaction(async (trx) => {
    await s.Writer.query(trx).patch({ title: 'Title changed' }).where('id', 1);
    s.store.resetCounts();
    const inside = await list(s.Writer, trx);
    t.is(inside[0]!.title, 'Title changed', 'the transaction sees its own write');
    t.deepEqual(s.store.calls, {}, 'no store call inside the transaction');
    t.is((await list(s.Reader))[0]!.title, 'Title 1', 'outside, the committed state is served');
  });
  t.is((await list(s.Reader))[0]!.title, 'Title changed', 'after the commit the write is visible');
});

forEachSetup(test, 'a cached query that read the DB before a write never serves its old rows after it', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db, { cachedTags: true });
  const hold = holdNextSql(b.knex, /from [`"]posts[`"] where/);
  const reader = b.Post.query().where('views', '>', 1).orderBy('id').cache();
  const pending = reader.then((rows) => rows);
  await hold.reached; // the reader has the old rows in hand
  await b.Post.query().patch({ views: 0 }).where('id', 2);
  const afterWrite = await b.Post.query().where('views', '>', 1).orderBy('id').cache();
  t.deepEqual(
    afterWrite.map((p) => p.id),
    [3, 4],
    'a reader that starts after the write does not join the old read',
  );
  hold.release();
  t.deepEqual(
    (await pending).map((p) => p.id),
    [2, 3, 4],
    'the early reader gets what it read',
  );
  b.reset();
  t.deepEqual(
    (await b.Post.query().where('views', '>', 1).orderBy('id').cache()).map((p) => p.id),
    [3, 4],
    'the old rows, stored last, are not served',
  );
  t.is(b.selects().length, 1);
  t.deepEqual(
    (await b.Post.query().where('views', '>', 1).orderBy('id').cache()).map((p) => p.id),
    [3, 4],
  );
  t.is(b.selects().length, 1, 'the refill is cached');
});

forEachStore(test, 'concurrent identical cold queries run one DB query', async (t, kind) => {
  const b = await makeBlog(t, kind, 'sqlite', { cachedTags: true });
  b.reset();
  const results = await Promise.all(Array.from({ length: 50 }, () => b.Post.query().withGraphFetched('author').orderBy('id').cache()));
  t.is(b.selects().filter((sql) => /from `posts`/.test(sql)).length, 1);
  t.is(b.selects().filter((sql) => /from `authors`/.test(sql)).length, 1);
  t.true(results.every((rows) => JSON.stringify(rows) === JSON.stringify(results[0])));
  t.not(results[0]![0], results[1]![0], 'every caller gets instances of its own');
});

test('running a builder leaves it as it was: it runs again through the cache, once per run, and its clones do too', async (t) => {
  const b = await makeBlog(t, 'memory', 'sqlite', { cachedTags: true });
  const query = b.Post.query().withGraphFetched('author').where('views', '>', 1).orderBy('id').cache();
  const sql = query.toKnexQuery().toString();
  b.reset();
  const first = await query;
  t.is(query.toKnexQuery().toString(), sql, 'the SQL is unchanged');
  t.is(b.selects().length, 2, 'cold: the posts statement and the authors statement');
  t.is(b.store.calls.getMany, 2, 'one store read per statement: no statement went through the cache twice');
  b.reset();
  const again = await query;
  const cloned = await query.clone();
  t.deepEqual(plain(again), plain(first));
  t.deepEqual(plain(cloned), plain(first));
  t.deepEqual(b.selects(), [], 'warm, the same builder and its clone ask the DB nothing');
  t.is(b.store.calls.getMany, 4, 'two runs, one store read per statement each');
  const page = await query.clone().page(0, 1);
  t.is(page.total, first.length, 'page() of a clone counts the same rows');
});

forEachStore(test, 'cache({ ttl }) and empty results: an empty answer is cached too', async (t, kind) => {
  const b = await makeBlog(t, kind, 'sqlite');
  await b.Post.query().where('title', 'nothing').cache({ ttl: 60_000 });
  b.reset();
  t.deepEqual(await b.Post.query().where('title', 'nothing').cache({ ttl: 60_000 }), []);
  t.is(b.selects().length, 0);
  await b.Post.query().insert({ slug: 'n', name: 'N', title: 'nothing' });
  t.is((await b.Post.query().where('title', 'nothing').cache()).length, 1);
});

test('a query that reads a table no cached model writes is refused with a TypeError naming the table, before any DB query', async (t) => {
  const b = await makeBlog(t);
  b.reset();
  const error = await t.throwsAsync(() => b.Post.query().withGraphJoined('tags').cache(), { instanceOf: TypeError });
  t.regex(error!.message, /"tags"/);
  t.regex(error!.message, /Post\.query\(\)\.cache\(\)/);
  t.deepEqual(
    b.selects().filter((sql) => !/PRAGMA/i.test(sql)),
    [],
    'no data query ran',
  );
  t.throws(() => b.Post.query().cache({ ttl: -1 }), { instanceOf: TypeError, message: /ttl/ });
  t.throws(() => b.Post.query().cache({ dependsOn: [42 as never] }), { instanceOf: TypeError, message: /dependsOn/ });
  t.throws(() => b.Post.query().cache(null as never), { instanceOf: TypeError });
  // Uncached, the same query runs as usual.
  t.is((await b.Post.query().withGraphJoined('tags')).length, 4);
});

forEachStore(test, 'dependsOn names tables a raw subquery reads', async (t, kind) => {
  const b = await makeBlog(t, kind);
  const query = () => b.Post.query().whereRaw('"authorId" in (select id from authors where name = ?)', ['Bob']).orderBy('id');
  t.is((await query().cache({ dependsOn: [b.Author] })).length, 2);
  await b.Author.query().patch({ name: 'Bob' }).where('id', 1);
  t.is((await query().cache({ dependsOn: [b.Author] })).length, 4, 'the author write invalidated it');
});

forEachStore(test, 'with the store down a cached query is answered by the DB', async (t, kind) => {
  const b = await makeBlog(t, kind, 'sqlite', { cachedTags: true });
  await QUERIES.graph!(b, true);
  b.store.failing = true;
  await b.Post.query().patch({ title: 'while down' }).where('id', 1);
  const rows = (await QUERIES.list!(b, true)) as { title: string; id: number }[];
  t.is(rows.find((p) => p.id === 2)?.title, 'Title 2');
  t.deepEqual(plain(await QUERIES.graph!(b, true)), plain(await QUERIES.graph!(b, false)));
  b.store.failing = false;
  await expectFresh(t, b, 'after the store came back');
});

test('many-to-many join rows written through a plain model of the join table are covered by flushTables', async (t) => {
  const b = await makeBlog(t, 'memory', 'sqlite', { cachedTags: true });
  class PostTag extends Model {
    static override tableName = 'post_tags';
    static override idColumn = ['postId', 'tagId'];
  }
  PostTag.knex(b.knex);
  // Tag's class is built as a plain Model or a cached one at run time, so its static type has no cache().
  const tagsOf1 = () => (b.Post.relatedQuery('tags').for(1).orderBy('tags.id') as unknown as CachedQueryBuilder<Model>).cache();
  t.is((await tagsOf1()).length, 0);
  await PostTag.query().insert({ postId: 1, tagId: 1 } as never);
  t.is((await tagsOf1()).length, 1, 'a plain model writing the join table through the knex the cache uses is seen as a knex write');
  await b.Post.flushTables('post_tags');
  b.reset();
  t.is((await tagsOf1()).length, 1);
  t.is(b.selects().length, 1, 'flushTables dropped it too');
  const CachedPostTag = class extends CachedModel(Model, { store: b.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'post_tags';
    static override idColumn = 'postId';
  };
  CachedPostTag.knex(b.knex);
  await CachedPostTag.query().insert({ postId: 1, tagId: 2 } as never);
  t.is((await tagsOf1()).length, 2, 'a cached model of the join table invalidates on its own');
});

forEachSetup(test, 'across processes sharing one store: a write in one invalidates the other’s cached queries, even mid-read', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const [storeA, storeB] = await twoProcessStores(t, kind);
  const ProcessA = makePostClass(storeA);
  const ProcessB = makePostClass(storeB);
  ProcessA.knex(b.knex);
  ProcessB.knex(b.knex);
  const list = (M: typeof ProcessA) => M.query().where('views', '>', 1).orderBy('id').cache();
  t.deepEqual(
    (await list(ProcessA)).map((p) => p.id),
    [2, 3, 4],
  );
  await ProcessB.query().patch({ views: 0 }).where('id', 2);
  t.deepEqual(
    (await list(ProcessA)).map((p) => p.id),
    [3, 4],
    'B’s write dropped A’s cached result',
  );

  await ProcessB.query().patch({ views: 5 }).where('id', 3); // A's next read misses
  const hold = holdNextSql(b.knex, /from [`"]posts[`"] where/);
  const readerA = list(ProcessA).then((rows) => rows.map((p) => p.id));
  await hold.reached; // A has the old rows in hand
  await ProcessB.query().patch({ views: 9 }).where('id', 1);
  hold.release();
  t.deepEqual(await readerA, [3, 4]);
  t.deepEqual(
    (await list(ProcessB)).map((p) => p.id),
    [1, 3, 4],
    'A’s late fill is ignored by B',
  );
  t.deepEqual(
    (await list(ProcessA)).map((p) => p.id),
    [1, 3, 4],
    'and by A',
  );
});
