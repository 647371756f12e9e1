import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { Model, raw, snakeCaseMappers, transaction } from 'objection';
import { CachedModel } from 'objection-cache';
import { queryLog, TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { makeKnex, type DbKind } from './helpers/databases.js';
import { gated } from './helpers/gates.js';
import { forEachSetup, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Cached lists (#15, part 2): `static cacheIndexes` names non-unique columns (or lists of them, a composite
// index); `getAllBy(index, value)` answers every row holding the value, in id order, from a cached list of their
// ids and the row cache. A list is flushed by the writes that change who is in it (insert, delete, a write to the
// index column or the id), after the outermost commit and with the race guard; any other write costs only the
// written rows' own entries.

/** Posts (snake_case columns, camelCase properties) indexed by author, and by (tenant, author) declared by DB names. */
function makeModels(store: Keyv) {
  class Post extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'posts';
    static override columnNameMappers = snakeCaseMappers();
    static override cacheKeys = ['slug'];
    static override cacheIndexes = ['authorId', ['tenant_id', 'author_id']];
    declare id: number;
    declare tenantId: number;
    declare authorId: number | null;
    declare slug: string;
    declare title: string;
    declare views: number;
  }
  class Author extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'authors';
    declare id: number;
    declare name: string;
    declare posts?: Post[];
    static override get relationMappings() {
      return { posts: { relation: Model.HasManyRelation, modelClass: Post, join: { from: 'authors.id', to: 'posts.author_id' } } };
    }
  }
  return { Post, Author };
}

async function createSchema(knex: Knex): Promise<void> {
  await knex.schema.createTable('authors', (table) => {
    table.increments('id');
    table.string('name').notNullable().defaultTo('');
  });
  await knex.schema.createTable('posts', (table) => {
    table.increments('id');
    table.integer('tenant_id').notNullable();
    table.integer('author_id').nullable();
    table.string('slug').notNullable().unique();
    table.string('title').notNullable().defaultTo('');
    table.integer('views').notNullable().defaultTo(0);
  });
}

type Pair = readonly [tenantId: number, authorId: number];

/**
 * Authors 1-3 (3 has no posts) and six posts: by author, 1: [1, 3, 4], 2: [2, 5], none: [6]; by (tenant,
 * author), (1, 1): [1, 3], (1, 2): [2], (2, 1): [4], (2, 2): [5]. Built afresh for every test.
 */
async function makeLists(t: ExecutionContext, kind: StoreKind, db: DbKind) {
  const knex = await makeKnex(t, db);
  await createSchema(knex);
  await knex('authors').insert([{ name: 'Ann' }, { name: 'Bob' }, { name: 'Cy' }]);
  await knex('posts').insert([
    { tenant_id: 1, author_id: 1, slug: 'p1', title: 'One' },
    { tenant_id: 1, author_id: 2, slug: 'p2', title: 'Two' },
    { tenant_id: 1, author_id: 1, slug: 'p3', title: 'Three' },
    { tenant_id: 2, author_id: 1, slug: 'p4', title: 'Four' },
    { tenant_id: 2, author_id: 2, slug: 'p5', title: 'Five' },
    { tenant_id: 2, author_id: null, slug: 'p6', title: 'Six' },
  ]);
  const store = await makeStore(t, kind);
  const { Post, Author } = makeModels(store);
  Post.knex(knex);
  Author.knex(knex);

  const log = queryLog(knex, store);

  // Every value ever listed (values of rows now gone, and empty lists, included), so check() covers them all.
  const seen = { authors: new Set<number>([1, 2, 3, 4, 5, 99]), pairs: new Map<string, Pair>() };
  const see = (pair: Pair) => seen.pairs.set(JSON.stringify(pair), pair);
  for (const tenant of [1, 2, 3]) for (const author of [1, 2, 3, 4]) see([tenant, author]);

  /** Every list, by either index and each way of naming it, equals the DB's answer, for every value ever seen. */
  async function check(label = ''): Promise<void> {
    const rows = await Post.query().orderBy('id'); // the DB's answer, in one read
    for (const row of rows) {
      if (row.authorId === null) continue;
      seen.authors.add(row.authorId);
      see([row.tenantId, row.authorId]);
    }
    const authors = [...seen.authors];
    const pairs = [...seen.pairs.values()];
    const byAuthor = (author: number) => json(rows.filter((row) => row.authorId === author));
    const byPair = ([tenant, author]: Pair) => json(rows.filter((row) => row.tenantId === tenant && row.authorId === author));
    t.deepEqual((await Post.getAllByMany('authorId', authors)).map(json), authors.map(byAuthor), `${label} getAllByMany('authorId')`);
    t.deepEqual((await Post.getAllByMany(['tenantId', 'authorId'], pairs)).map(json), pairs.map(byPair), `${label} getAllByMany(['tenantId', 'authorId'])`);
    for (const [i, author] of authors.entries()) {
      const index = i % 2 === 0 ? 'authorId' : 'author_id';
      t.deepEqual(json(await Post.getAllBy(index, author)), byAuthor(author), `${label} getAllBy('${index}', ${author})`);
    }
    for (const [i, pair] of pairs.entries()) {
      const value = i % 2 === 0 ? pair : { tenantId: pair[0], authorId: pair[1] };
      const index = i % 3 === 0 ? ['tenant_id', 'author_id'] : ['tenantId', 'authorId'];
      t.deepEqual(json(await Post.getAllBy(index, value)), byPair(pair), `${label} getAllBy(${JSON.stringify(index)}, ${JSON.stringify(value)})`);
    }
  }

  return {
    knex: knex as Knex,
    store,
    Post,
    Author,
    ...log,
    check,
  };
}

type Lists = Awaited<ReturnType<typeof makeLists>>;

const json = (rows: readonly Model[]) => rows.map((row) => row.$toJson());
const ids = (rows: readonly { id: number }[]) => rows.map((row) => row.id);
const titles = (rows: readonly { title: string }[]) => rows.map((row) => row.title);

/** Runs each write in turn on one fixture, checking every list against the DB before the first and after each. */
async function writesInTurn(t: ExecutionContext, kind: StoreKind, db: DbKind, writes: readonly (readonly [string, (l: Lists) => PromiseLike<unknown>])[]) {
  const l = await makeLists(t, kind, db);
  await l.check('before:');
  for (const [label, write] of writes) {
    await write(l);
    await l.check(`after ${label}:`);
  }
  return l;
}

// Lookups and what they cost

forEachSetup(test, 'getAllBy: the rows in id order as fresh instances; cold a query of ids then one of rows, warm none', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  const rows = await Post.getAllBy('authorId', 1);
  t.deepEqual(ids(rows), [1, 3, 4]);
  t.deepEqual(titles(rows), ['One', 'Three', 'Four']);
  t.true(rows.every((row) => row instanceof Post));
  t.is(l.selects().length, 2, 'the list, then its rows by id');
  t.notRegex(l.selects()[0] ?? '', /title/, 'the list reads ids, not rows');

  l.reset();
  const again = [await Post.getAllBy('authorId', 1), await Post.getAllBy('author_id', 1)];
  t.deepEqual(again.map(ids), [
    [1, 3, 4],
    [1, 3, 4],
  ]);
  t.deepEqual(l.queries, [], 'warm, by property or DB column name');
  t.not(again[0]![0], again[1]![0], 'each call answers fresh instances');
  again[0]![0]!.title = 'mutated';
  t.is((await Post.getAllBy('authorId', 1))[0]?.title, 'One', 'mutating an answer does not reach the cache');
  t.deepEqual(ids(await Post.getAllBy('authorId', 1n)), [1, 3, 4], 'a bigint reads the same list');

  t.is((await Post.getById(3))?.title, 'Three');
  t.deepEqual(l.queries, [], 'the rows went through the row cache: getById hits');

  t.deepEqual(await Post.getAllBy('authorId', 99), [], 'no row holds 99');
  t.is(l.selects().length, 1, 'an empty list: the list query only');
  l.reset();
  t.deepEqual(await Post.getAllBy('authorId', 99), []);
  t.deepEqual(l.queries, [], 'the empty list is cached too');

  await Post.getById(2);
  await Post.getById(5);
  l.reset();
  t.deepEqual(titles(await Post.getAllBy('authorId', 2)), ['Two', 'Five']);
  t.is(l.selects().length, 1, 'every row already in the row cache: the list query only');
});

forEachSetup(test, 'getAllByMany: aligned with its input; cold one query for the lists and one for the rows, warm none', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  const lists = await Post.getAllByMany('authorId', [2, 99, 1, 2]);
  t.deepEqual(lists.map(ids), [[2, 5], [], [1, 3, 4], [2, 5]]);
  t.is(l.selects().length, 2);
  t.not(lists[0]![0], lists[3]![0], 'a value asked twice gets its own instances');
  t.true(lists.flat().every((row) => row instanceof Post));
  l.reset();
  t.deepEqual((await Post.getAllByMany('author_id', [1, 2, 99])).map(titles), [['One', 'Three', 'Four'], ['Two', 'Five'], []]);
  t.deepEqual(l.queries, [], 'warm, hits and empty lists alike');
  t.deepEqual(await Post.getAllByMany('authorId', []), []);
  t.deepEqual(l.queries, [], 'no values, no I/O');

  t.deepEqual((await Post.getAllByMany('authorId', [1, 3])).map(ids), [[1, 3, 4], []]);
  t.is(l.selects().length, 1, 'only the cold list (author 3, no posts) is read');
  l.reset();
  const more = await Post.getAllByMany(['tenantId', 'authorId'], [[1, 1], { tenantId: 2, authorId: 2 }, [2, 1], [3, 1]]);
  t.deepEqual(more.map(ids), [[1, 3], [5], [4], []]);
  t.is(l.selects().length, 1, 'a composite index: one query for the lists; the rows were cached');
});

forEachSetup(test, 'a composite index: by tuple or object, declared by DB column names and named either way', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], [1, 1])), [1, 3]);
  t.is(l.selects().length, 2);
  l.reset();
  t.deepEqual(ids(await Post.getAllBy(['tenant_id', 'author_id'], [1, 1])), [1, 3]);
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], { tenantId: 1, authorId: 1 })), [1, 3]);
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], { authorId: 1, tenantId: 1 })), [1, 3]);
  t.deepEqual(l.queries, [], 'one entry, however the index and the tuple are spelled');
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], [2, 1])), [4], 'the same author in another tenant is another list');
  t.deepEqual(await Post.getAllBy(['tenantId', 'authorId'], [1, 3]), []);
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], [2n, 2n])), [5]);
});

forEachSetup(test, 'bad input is a TypeError naming the model, before any I/O', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  type Loose = { getAllBy(...args: unknown[]): Promise<unknown>; getAllByMany(...args: unknown[]): Promise<unknown> };
  const refused: [string, (p: Loose) => Promise<unknown>][] = [
    ['a column that is no index', (p) => p.getAllBy('title', 'One')],
    ['a cache key that is no index', (p) => p.getAllBy('slug', 'p1')],
    ['the id column', (p) => p.getAllBy('id', 1)],
    ['one column of a composite index', (p) => p.getAllBy('tenantId', 1)],
    ['the columns of a composite index out of their declared order', (p) => p.getAllBy(['authorId', 'tenantId'], [1, 1])],
    ['an empty column list', (p) => p.getAllBy([], [])],
    ['no index', (p) => p.getAllBy(undefined, 1)],
    ['null', (p) => p.getAllBy('authorId', null)],
    ['undefined', (p) => p.getAllBy('authorId', undefined)],
    ['an object for a single index', (p) => p.getAllBy('authorId', { authorId: 1 })],
    ['an array for a single index', (p) => p.getAllBy('authorId', [1])],
    ['a boolean', (p) => p.getAllBy('authorId', true)],
    ['NaN', (p) => p.getAllBy('authorId', Number.NaN)],
    ['a Date', (p) => p.getAllBy('authorId', new Date(0))],
    ['a composite tuple one short', (p) => p.getAllBy(['tenantId', 'authorId'], [1])],
    ['a composite tuple one long', (p) => p.getAllBy(['tenantId', 'authorId'], [1, 1, 1])],
    ['a scalar for a composite index', (p) => p.getAllBy(['tenantId', 'authorId'], 1)],
    ['an object missing a part', (p) => p.getAllBy(['tenantId', 'authorId'], { tenantId: 1 })],
    ['a null part', (p) => p.getAllBy(['tenantId', 'authorId'], [1, null])],
    ['getAllByMany: not an array', (p) => p.getAllByMany('authorId', 1)],
    ['getAllByMany: a null among good values', (p) => p.getAllByMany('authorId', [1, null])],
    ['getAllByMany: an unknown index', (p) => p.getAllByMany('title', ['One'])],
    ['getAllByMany: a bad tuple among good ones', (p) => p.getAllByMany(['tenantId', 'authorId'], [[1, 1], [2]])],
  ];
  l.reset();
  for (const [label, call] of refused) {
    await t.throwsAsync(async () => call(l.Post as unknown as Loose), { instanceOf: TypeError, message: /Post/ }, label);
  }

  class Unindexed extends CachedModel(Model, { store: l.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'posts';
  }
  Unindexed.knex(l.knex);
  await t.throwsAsync(async () => Unindexed.getAllBy('authorId', 1), { instanceOf: TypeError, message: /Unindexed/ }, 'a model with no cacheIndexes');
  class Malformed extends CachedModel(Model, { store: l.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'posts';
    static override cacheIndexes = [['author_id', 'author_id']];
  }
  Malformed.knex(l.knex);
  await t.throwsAsync(async () => Malformed.getAllBy(['author_id', 'author_id'], [1, 1]), { instanceOf: TypeError, message: /Malformed/ }, 'a repeated column');
  t.deepEqual(l.queries, [], 'no DB query');
  t.deepEqual(l.store.calls, {}, 'no store call');
  t.deepEqual(ids(await l.Post.getAllBy('authorId', 1)), [1, 3, 4], 'and the model still answers');
});

// Invalidation: every write path, each followed by a comparison of every list with the DB.

forEachSetup(test, 'query builder writes keep every list exact: insert, patch, bulk, raw(), update, a new id, delete, upsert', async (t, kind, db) => {
  await writesInTurn(t, kind, db, [
    ['insert() into a list', (l) => l.Post.query().insert({ tenantId: 1, authorId: 1, slug: 'n1', title: 'New one' })],
    ['insert() into a cached empty list', (l) => l.Post.query().insert({ tenantId: 1, authorId: 3, slug: 'n3', title: 'New three' })],
    ['patch() moving a row to another author', (l) => l.Post.query().patch({ authorId: 2 }).where('id', 1)],
    ['patch() of one part of the composite index', (l) => l.Post.query().patch({ tenantId: 2 }).where('slug', 'p3')],
    [
      'patch() of one part of the composite index with raw()',
      (l) =>
        l.Post.query()
          .patch({ tenantId: raw('?', [3]) as never })
          .where('id', 2),
    ],
    ['findById().patch() to null', (l) => l.Post.query().findById(4).patch({ authorId: null })],
    ['patch() from null', (l) => l.Post.query().patch({ authorId: 3 }).where('id', 6)],
    ['bulk patch() emptying a list into a cached empty one', (l) => l.Post.query().patch({ authorId: 4 }).where('author_id', 2)],
    [
      "patch() with raw('?', [1])",
      (l) =>
        l.Post.query()
          .patch({ authorId: raw('?', [1]) as never })
          .where('id', '<=', 2),
    ],
    ['update().where()', (l) => l.Post.query().update({ tenantId: 1, authorId: 2, slug: 'upd', title: 'Updated', views: 1 }).where('id', 5)],
    ['patch() of the id', (l) => l.Post.query().patch({ id: 50 }).where('id', 7)],
    ['patchAndFetchById() moving a row', (l) => l.Post.query().patchAndFetchById(50, { authorId: 5 })],
    [
      'insert().onConflict(id).merge() moving a row',
      (l) => l.Post.query().insert({ id: 2, tenantId: 1, authorId: 2, slug: 'p2', title: 'Merged' }).onConflict('id').merge(),
    ],
    [
      'insert().onConflict(slug).merge() of a new row',
      (l) => l.Post.query().insert({ tenantId: 2, authorId: 2, slug: 'fresh', title: 'Fresh' }).onConflict('slug').merge(),
    ],
    // Objection inserts several rows in one statement on PostgreSQL only
    ...(db === 'postgres'
      ? ([
          [
            'insert() of several rows',
            (l: Lists) =>
              l.Post.query().insert([
                { tenantId: 1, authorId: 1, slug: 'm1', title: 'M1' },
                { tenantId: 3, authorId: 2, slug: 'm2', title: 'M2' },
              ]),
          ],
        ] as const)
      : []),
    ['deleteById()', (l) => l.Post.query().deleteById(3)],
    ['delete().where()', (l) => l.Post.query().delete().where('author_id', 3)],
  ]);
});

forEachSetup(test, 'instance, graph and relation writes keep every list exact', async (t, kind, db) => {
  await writesInTurn(t, kind, db, [
    ['$query().patch()', async (l) => (await l.Post.query().findById(1))!.$query().patch({ authorId: 2 })],
    [
      '$query().update()',
      async (l) => {
        const post = (await l.Post.query().findById(3))!;
        post.authorId = 3;
        return post.$query().update();
      },
    ],
    ['save() inserting', (l) => l.Post.fromJson({ tenantId: 2, authorId: 1, slug: 'saved', title: 'Saved' }).save()],
    [
      'save() of a row read through a list, moved to another author',
      async (l) => {
        const [post] = await l.Post.getAllBy('authorId', 2);
        post!.authorId = 1;
        return post!.save();
      },
    ],
    ['delete() of an instance', async (l) => (await l.Post.query().findById(4))!.delete()],
    [
      'insertGraph() of a new author with posts (a cached empty list)',
      (l) =>
        l.Author.query().insertGraph({
          name: 'Dee',
          posts: [
            { tenantId: 1, slug: 'g1', title: 'G1' },
            { tenantId: 2, slug: 'g2', title: 'G2' },
          ],
        } as never),
    ],
    ['insertGraph() of the model', (l) => l.Post.query().insertGraph([{ tenantId: 1, authorId: 2, slug: 'g3', title: 'G3' }] as never)],
    ['$relatedQuery().relate()', async (l) => (await l.Author.query().findById(2))!.$relatedQuery('posts').relate(6)],
    ['$relatedQuery().unrelate()', async (l) => (await l.Author.query().findById(1))!.$relatedQuery('posts').unrelate().where('posts.id', 1)],
    [
      'relatedQuery().insert()',
      (l) =>
        l.Author.relatedQuery('posts')
          .for(3)
          .insert({ tenantId: 1, slug: 'rel', title: 'Rel' } as never),
    ],
    [
      'relatedQuery().patch() of a column that is no index',
      (l) =>
        l.Author.relatedQuery('posts')
          .for(2)
          .patch({ title: 'Related' } as never),
    ],
    [
      'upsertGraph() keeping one post, adding one and deleting the others',
      async (l) => {
        const [kept] = await l.Post.query().where('author_id', 2).orderBy('id');
        return l.Author.query().upsertGraph({
          id: 2,
          posts: [
            { id: kept!.id, title: 'Kept' },
            { tenantId: 2, slug: 'ug', title: 'Upserted' },
          ],
        } as never);
      },
    ],
    ['relatedQuery().delete()', (l) => l.Author.relatedQuery('posts').for(1).delete()],
  ]);
});

forEachSetup(test, 'writes through knex beside Objection are seen: insert, update, delete, raw SQL, a knex transaction', async (t, kind, db) => {
  await writesInTurn(t, kind, db, [
    ["knex('posts').insert()", (l) => l.knex('posts').insert({ tenant_id: 1, author_id: 1, slug: 'raw', title: 'Raw' })],
    ["knex('posts').update() of the index", (l) => l.knex('posts').where('id', 1).update({ author_id: 2 })],
    ["knex('posts').update() of a title", (l) => l.knex('posts').where('id', 3).update({ title: 'Raw title' })],
    ["knex('posts').del()", (l) => l.knex('posts').where('author_id', 2).del()],
    ['knex.raw() update', (l) => l.knex.raw('update posts set author_id = ? where id = ?', [3, 4])],
    ['a knex transaction', (l) => l.knex.transaction(async (trx) => trx('posts').insert({ tenant_id: 2, author_id: 3, slug: 'raw-tx', title: 'Raw tx' }))],
  ]);
});

forEachSetup(
  test,
  'a write that leaves the index alone keeps the list: one query refills the written rows; one that moves a row costs the list',
  async (t, kind, db) => {
    const l = await makeLists(t, kind, db);
    const { Post } = l;
    await Post.getAllByMany('authorId', [1, 2]);
    await Post.getAllBy(['tenantId', 'authorId'], [1, 1]);

    await Post.query().patch({ title: 'Changed' }).where('id', 3);
    l.reset();
    t.deepEqual(titles(await Post.getAllBy('authorId', 1)), ['One', 'Changed', 'Four'], 'the list answers the current row');
    t.is(l.selects().length, 1, 'the written row, by id: the list stayed cached');
    l.reset();
    t.deepEqual(titles(await Post.getAllBy(['tenantId', 'authorId'], [1, 1])), ['One', 'Changed']);
    t.deepEqual(l.queries, [], 'the composite list stayed cached too');

    await (await Post.getById(4))!.$query().patch({ views: 9 });
    l.reset();
    t.deepEqual(
      (await Post.getAllBy('authorId', 1)).map((post) => post.views),
      [0, 0, 9],
    );
    t.is(l.selects().length, 1, 'an instance patch: the same');

    await Post.query().patch({ views: 7 }).where('tenant_id', 1);
    l.reset();
    t.deepEqual(
      (await Post.getAllByMany('authorId', [1, 2])).map((posts) => posts.map((post) => post.views)),
      [
        [7, 7, 9],
        [7, 0],
      ],
    );
    t.is(l.selects().length, 1, 'a bulk patch over two lists: one query for the rows it wrote');

    await Post.query().patch({ authorId: 2 }).where('id', 4);
    l.reset();
    t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [1, 3]);
    t.is(l.selects().length, 1, 'the list the row left, read again; its other rows stayed cached');
    l.reset();
    t.deepEqual(ids(await Post.getAllBy('authorId', 2)), [2, 4, 5]);
    t.is(l.selects().length, 2, 'the list the row joined, and the row itself');
    l.reset();
    t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], [1, 1])), [1, 3]);
    t.deepEqual(l.queries, [], 'a list the write did not touch stays cached');
  },
);

// Transactions

class Rollback extends Error {}

forEachSetup(test, 'in a transaction getAllBy(v, trx) reads through it while others read the committed lists; right after commit', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  await l.check('before:');
  await Post.transaction(async (trx) => {
    await Post.query(trx).insert({ tenantId: 1, authorId: 1, slug: 'tx', title: 'In tx' });
    await Post.query(trx).patch({ authorId: 1 }).where('id', 2);
    await Post.query(trx).patch({ title: 'Retitled' }).where('id', 1);
    l.reset();
    const inside = await Post.getAllBy('authorId', 1, trx);
    t.deepEqual(ids(inside), [1, 2, 3, 4, 7], 'the transaction sees its writes');
    t.is(inside[0]?.title, 'Retitled');
    t.true(l.selects().length > 0, 'through the transaction the DB answers, though the list is warm');
    t.deepEqual((await Post.getAllByMany('authorId', [1, 2], trx)).map(ids), [[1, 2, 3, 4, 7], [5]]);
    t.deepEqual(
      (await Post.getAllBy(['tenantId', 'authorId'], [1, 1], trx)).map((post) => post.slug),
      ['p1', 'p2', 'p3', 'tx'],
    );
    l.reset();
    const outside = await Post.getAllBy('authorId', 1);
    t.deepEqual(ids(outside), [1, 3, 4], 'others read the committed list');
    t.is(outside[0]?.title, 'One');
    t.deepEqual(ids(await Post.getAllBy('authorId', 2)), [2, 5]);
    t.deepEqual(l.queries, [], 'from the cache, untouched until the commit');
    if (db === 'postgres') {
      // a cold list filled outside meanwhile, from the committed rows (SQLite has one connection, held by trx)
      await Post.query(trx).insert({ tenantId: 2, authorId: 6, slug: 'tx6', title: 'Six in tx' });
      t.deepEqual(await Post.getAllBy('authorId', 6), []);
      t.deepEqual(await Post.getAllBy(['tenantId', 'authorId'], [2, 6]), []);
    }
  });
  await l.check('after commit:');
  t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [1, 2, 3, 4, 7]);
  if (db === 'postgres') t.deepEqual(titles(await Post.getAllBy('authorId', 6)), ['Six in tx'], 'the list filled during the transaction is not served');

  await transaction(Post, async (Bound) => {
    await Bound.query().patch({ authorId: 3 }).where('id', 5);
    t.deepEqual(ids(await Bound.getAllBy('authorId', 3)), [5], 'the bound class reads through its transaction');
    t.deepEqual(await Post.getAllBy('authorId', 3), [], 'the class outside it does not see the write');
  });
  await l.check('after transaction(Model, cb):');
  t.deepEqual(ids(await Post.getAllBy('authorId', 3)), [5]);
});

forEachSetup(test, 'a rolled-back transaction leaves every list right', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  await l.check('before:');
  const outcome = Post.transaction(async (trx) => {
    await Post.query(trx).insert({ tenantId: 1, authorId: 3, slug: 'rb', title: 'Rolled back' });
    await Post.query(trx).patch({ authorId: 3 }).where('id', 1);
    await Post.query(trx).delete().where('id', 5);
    t.deepEqual(ids(await Post.getAllBy('authorId', 3, trx)), [1, 7]);
    t.deepEqual(ids(await Post.getAllBy('authorId', 2, trx)), [2]);
    throw new Rollback();
  });
  await t.throwsAsync(outcome, { instanceOf: Rollback });
  await l.check('after rollback:');
  t.deepEqual(await Post.getAllBy('authorId', 3), []);
  t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [1, 3, 4]);
  t.deepEqual(ids(await Post.getAllBy('authorId', 2)), [2, 5]);
});

// The refill race: a list fill whose DB read began before a write's flush is never served after it.

forEachSetup(test, 'a list fill that read the DB before an insert is never served after it (a list, an empty list)', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  const { Gated, holdNextQuery } = gated(Post);
  let hold = holdNextQuery();
  const readerA = Gated.getAllBy('authorId', 1);
  await hold.reached; // A has the list of ids in hand
  await Post.query().insert({ tenantId: 1, authorId: 1, slug: 'late', title: 'Late' });
  hold.release();
  t.deepEqual(ids(await readerA), [1, 3, 4], 'A began before the insert: the old list is a fair answer for A');
  t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [1, 3, 4, 7], 'but it is not served after it');
  l.reset();
  t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [1, 3, 4, 7]);
  t.deepEqual(l.queries, [], 'the refill after the insert is cached');

  hold = holdNextQuery();
  const readerB = Gated.getAllBy(['tenantId', 'authorId'], [2, 3]);
  await hold.reached;
  await Post.query().insert({ tenantId: 2, authorId: 3, slug: 'first', title: 'First' });
  hold.release();
  t.deepEqual(await readerB, []);
  t.deepEqual(titles(await Post.getAllBy(['tenantId', 'authorId'], [2, 3])), ['First'], 'the empty list read before the insert is not served');
  t.deepEqual(titles(await Post.getAllBy('authorId', 3)), ['First']);
});

forEachSetup(test, 'a list read before a row moved, and a row read before its write, are never served after them', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const { Post } = l;
  const { Gated, holdNextQuery } = gated(Post);
  let hold = holdNextQuery();
  const readerA = Gated.getAllByMany('authorId', [1, 2]);
  await hold.reached; // A read the lists 1: [1, 3, 4] and 2: [2, 5]
  await Post.query().patch({ authorId: 2 }).where('id', 1);
  hold.release();
  const [one, two] = await readerA;
  t.true(
    one!.every((post) => post.authorId === 1),
    `every row A lists under author 1 holds author 1 (got ${JSON.stringify(one!.map((post) => [post.id, post.authorId]))})`,
  );
  t.true(two!.every((post) => post.authorId === 2));
  t.deepEqual(ids(await Post.getAllBy('authorId', 1)), [3, 4], 'the row is gone from the list it left');
  t.deepEqual(ids(await Post.getAllBy('authorId', 2)), [1, 2, 5], 'and in the list it joined');
  t.deepEqual(ids(await Post.getAllBy(['tenantId', 'authorId'], [1, 2])), [1, 2]);

  // the list warm, a row cold: the held query is the row's fill
  await Post.query().patch({ title: 'First' }).where('id', 3);
  hold = holdNextQuery();
  const readerB = Gated.getAllBy('authorId', 1);
  await hold.reached;
  await Post.query().patch({ title: 'Second' }).where('id', 3);
  hold.release();
  t.deepEqual(titles(await readerB), ['First', 'Four']);
  t.deepEqual(titles(await Post.getAllBy('authorId', 1)), ['Second', 'Four'], 'the row filled before the write is not served');
  t.is((await Post.getById(3))?.title, 'Second');
});

// Beyond one class on one store

forEachSetup(test, 'lists belong to the database they were read from: the knex given, bindKnex, and writes there', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  const other = await makeKnex(t, db);
  await createSchema(other);
  await other('posts').insert([
    { tenant_id: 1, author_id: 2, slug: 'o1', title: 'Other 1' },
    { tenant_id: 1, author_id: 1, slug: 'o2', title: 'Other 2' },
    { tenant_id: 1, author_id: 1, slug: 'o3', title: 'Other 3' },
  ]);
  const { Post } = l;
  const Other = Post.bindKnex(other);
  t.deepEqual((await Post.getAllByMany('authorId', [1, 2])).map(titles), [
    ['One', 'Three', 'Four'],
    ['Two', 'Five'],
  ]);
  t.deepEqual(titles(await Post.getAllBy('authorId', 1, other)), ['Other 2', 'Other 3'], 'the same value in another database is another list');
  l.reset();
  t.deepEqual(titles(await Other.getAllBy('authorId', 1)), ['Other 2', 'Other 3']);
  t.deepEqual(titles(await Post.getAllBy('authorId', 1)), ['One', 'Three', 'Four']);
  t.deepEqual((await Other.getAllByMany('authorId', [2, 1])).map(titles), [['Other 1'], ['Other 2', 'Other 3']]);
  t.deepEqual(l.queries, [], 'each warm, none answering the other');

  await Other.query().patch({ authorId: 2 }).where('id', 2);
  t.deepEqual(titles(await Other.getAllBy('authorId', 1)), ['Other 3']);
  t.deepEqual(titles(await Post.getAllBy('authorId', 2, other)), ['Other 1', 'Other 2']);
  l.reset();
  t.deepEqual(titles(await Post.getAllBy('authorId', 1)), ['One', 'Three', 'Four']);
  t.deepEqual(titles(await Post.getAllBy('authorId', 2)), ['Two', 'Five']);
  t.deepEqual(l.queries, [], 'a write in one database flushes the lists of that database only');
});

forEachSetup(test, 'a model with a composite id: lists of composite ids in id order, kept exact by its writes', async (t, kind, db) => {
  const l = await makeLists(t, kind, db);
  await l.knex.schema.createTable('memberships', (table) => {
    table.integer('tenantId').notNullable();
    table.integer('userId').notNullable();
    table.string('role').notNullable();
    table.primary(['tenantId', 'userId']);
  });
  await l.knex('memberships').insert([
    { tenantId: 2, userId: 10, role: 'member' },
    { tenantId: 1, userId: 11, role: 'member' },
    { tenantId: 1, userId: 10, role: 'owner' },
    { tenantId: 1, userId: 12, role: 'member' },
  ]);
  class Membership extends CachedModel(Model, { store: l.store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'memberships';
    static override idColumn = ['tenantId', 'userId'];
    static override cacheIndexes = ['role'];
    declare tenantId: number;
    declare userId: number;
    declare role: string;
  }
  Membership.knex(l.knex);
  const members = async (role: string) => (await Membership.getAllBy('role', role)).map((m) => [m.tenantId, m.userId]);

  l.reset();
  t.deepEqual(await members('member'), [
    [1, 11],
    [1, 12],
    [2, 10],
  ]);
  t.is(l.selects().length, 2);
  l.reset();
  t.deepEqual(await members('member'), [
    [1, 11],
    [1, 12],
    [2, 10],
  ]);
  // MySQL's collation matches a string under other spellings: there a list by one is read again (its rows are cached)
  t.is(l.queries.length, db === 'mysql' ? 1 : 0, 'warm');
  l.reset();
  t.deepEqual(await members('owner'), [[1, 10]]);
  t.is(l.selects().length, 2, 'another list: its ids, then its row');
  t.deepEqual(await members('admin'), []);

  await Membership.query().patch({ role: 'owner' }).where({ tenantId: 1, userId: 11 });
  t.deepEqual(await members('member'), [
    [1, 12],
    [2, 10],
  ]);
  t.deepEqual(await members('owner'), [
    [1, 10],
    [1, 11],
  ]);
  await Membership.query().insert({ tenantId: 1, userId: 9, role: 'member' });
  await Membership.query().patch({ userId: 20 }).where({ tenantId: 2, userId: 10 });
  t.deepEqual(await members('member'), [
    [1, 9],
    [1, 12],
    [2, 20],
  ]);
  await Membership.query().deleteById([1, 12]);
  await Membership.query().patch({ role: 'admin' }).where('tenantId', 1).where('role', 'owner');
  t.deepEqual(await members('member'), [
    [1, 9],
    [2, 20],
  ]);
  t.deepEqual(await members('owner'), []);
  t.deepEqual(await members('admin'), [
    [1, 10],
    [1, 11],
  ]);
});
