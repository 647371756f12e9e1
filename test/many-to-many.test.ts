import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import { TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { makeKnex, type DbKind } from './helpers/databases.js';
import { holdNextSql } from './helpers/gates.js';
import { forEachSetup, forEachStore, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Cached many-to-many (#15, part 3): a ManyToManyRelation to a cached model loads through the join table's cached
// lists and the related rows' entries: `$relatedQuery` for one owner, `withGraphFetched` for many. Every write to
// the join table (relate, unrelate, graph writes, raw knex, either side of the relation) drops the table's lists;
// a write to a related row drops that row's entries only.

async function makeShelf(t: ExecutionContext, kind: StoreKind, db: DbKind) {
  const knex = await makeKnex(t, db);
  await knex.schema.createTable('posts', (table) => {
    table.increments('id');
    table.string('slug').notNullable().unique();
  });
  await knex.schema.createTable('tags', (table) => {
    table.increments('id');
    table.string('label').notNullable().unique();
  });
  await knex.schema.createTable('post_tags', (table) => {
    table.integer('post_id').notNullable();
    table.integer('tag_id').notNullable();
    table.string('note');
  });
  await knex('posts').insert([{ slug: 'a' }, { slug: 'b' }, { slug: 'c' }]);
  await knex('tags').insert([{ label: 'x' }, { label: 'y' }, { label: 'z' }]);
  await knex('post_tags').insert([
    { post_id: 1, tag_id: 1 },
    { post_id: 1, tag_id: 2 },
    { post_id: 2, tag_id: 2 },
  ]);
  const store = await makeStore(t, kind);
  const options = { store, timeout: TEST_STORE_TIMEOUT };
  class Tag extends CachedModel(Model, options) {
    static override tableName = 'tags';
    static override cacheKeys = ['label'];
    declare id: number;
    declare label: string;
    declare posts?: Post[];
    static override get relationMappings() {
      return {
        posts: {
          relation: Model.ManyToManyRelation,
          modelClass: Post,
          join: { from: 'tags.id', through: { from: 'post_tags.tag_id', to: 'post_tags.post_id' }, to: 'posts.id' },
        },
      };
    }
  }
  class Post extends CachedModel(Model, options) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug'];
    declare id: number;
    declare slug: string;
    declare tags?: Tag[];
    declare noted?: Tag[];
    static override get relationMappings() {
      return {
        tags: {
          relation: Model.ManyToManyRelation,
          modelClass: Tag,
          join: { from: 'posts.id', through: { from: 'post_tags.post_id', to: 'post_tags.tag_id' }, to: 'tags.id' },
        },
        // extra join columns: the cache holds no join rows, so the DB answers
        noted: {
          relation: Model.ManyToManyRelation,
          modelClass: Tag,
          join: { from: 'posts.id', through: { from: 'post_tags.post_id', to: 'post_tags.tag_id', extra: ['note'] }, to: 'tags.id' },
        },
      };
    }
  }
  Post.knex(knex);
  Tag.knex(knex);
  const selects: string[] = [];
  knex.on('query', (query: { sql: string }) => {
    if (/^select/i.test(query.sql)) selects.push(query.sql);
  });
  /** Every post's tag labels as the DB joins them, sorted. */
  const fromDb = async (): Promise<string[][]> => {
    const rows = (await knex('post_tags').join('tags', 'tags.id', 'post_tags.tag_id').select('post_tags.post_id', 'tags.label')) as {
      post_id: number;
      label: string;
    }[];
    return [1, 2, 3].map((post) =>
      rows
        .filter((row) => row.post_id === post)
        .map((row) => row.label)
        .sort(),
    );
  };
  const labels = (tags: readonly Tag[] | undefined): string[] => (tags ?? []).map((tag) => tag.label).sort();
  const graph = async (): Promise<string[][]> => (await Post.query().withGraphFetched('tags').orderBy('id')).map((post) => labels(post.tags));
  const related = async (slug: string): Promise<string[]> => labels(await (await Post.get(slug))!.$relatedQuery('tags'));
  return { knex: knex as Knex, Post, Tag, selects, fromDb, graph, related, labels };
}

forEachSetup(test, 'many-to-many: $relatedQuery reads the join list and the rows through the cache; warm it makes no query', async (t, kind, db) => {
  const s = await makeShelf(t, kind, db);
  const a = (await s.Post.get('a'))!;
  s.selects.length = 0;
  t.deepEqual(s.labels(await a.$relatedQuery('tags')), ['x', 'y']);
  t.is(s.selects.length, 2, `cold: the join list, then the rows by id: ${s.selects.join(' | ')}`);
  t.true(/from .post_tags./.test(s.selects[0]!), s.selects[0]);
  s.selects.length = 0;
  const again = await a.$relatedQuery('tags');
  t.deepEqual(s.labels(again), ['x', 'y']);
  t.true(again[0] instanceof s.Tag);
  t.is(s.selects.length, 0, 'warm: no query');
  // the inverse relation, through the same join table
  const y = (await s.Tag.get('y'))!;
  t.deepEqual((await y.$relatedQuery('posts')).map((post) => post.slug).sort(), ['a', 'b']);
  s.selects.length = 0;
  t.deepEqual((await y.$relatedQuery('posts')).map((post) => post.slug).sort(), ['a', 'b']);
  t.is(s.selects.length, 0);
});

forEachSetup(test, 'many-to-many: withGraphFetched for many owners reads every list at once; warm only the owners are queried', async (t, kind, db) => {
  const s = await makeShelf(t, kind, db);
  t.deepEqual(await s.graph(), await s.fromDb());
  s.selects.length = 0;
  t.deepEqual(await s.graph(), [['x', 'y'], ['y'], []]);
  t.is(s.selects.length, 1, `warm: the posts' query only: ${s.selects.join(' | ')}`);
  // a graph the cache does not serve (extra join columns) still answers as the DB does, every time
  s.selects.length = 0;
  const noted = await s.Post.query().withGraphFetched('noted').orderBy('id');
  t.deepEqual(
    noted.map((post) => s.labels(post.noted)),
    await s.fromDb(),
  );
  t.true(
    s.selects.some((sql) => /post_tags/.test(sql)),
    'the DB answered',
  );
});

forEachSetup(test, 'many-to-many: every write to the join table is seen, whichever way it is made', async (t, kind, db) => {
  const s = await makeShelf(t, kind, db);
  const check = async (what: string) => {
    t.deepEqual(await s.graph(), await s.fromDb(), what);
    t.deepEqual(await s.related('a'), (await s.fromDb())[0], `${what} ($relatedQuery)`);
  };
  await check('cold');
  const a = (await s.Post.get('a'))!;
  await a.$relatedQuery('tags').relate(3);
  await check('relate');
  await a.$relatedQuery('tags').unrelate().where('tags.id', 1);
  await check('unrelate');
  const z = (await s.Tag.get('z'))!;
  await z.$relatedQuery('posts').relate(3);
  await check('relate from the other side');
  await s.knex('post_tags').insert({ post_id: 2, tag_id: 1 });
  await check('raw knex insert');
  await s.knex('post_tags').where({ post_id: 1 }).del();
  await check('raw knex delete');
  await s.knex.raw('update post_tags set tag_id = 3 where post_id = 2');
  await check('raw update');
  const b = (await s.Post.get('b'))!;
  await b.$relatedQuery('tags').insert({ label: 'w' });
  await check('insert through the relation (the row, then the join row)');
  await s.Post.query().upsertGraph({ id: 3, tags: [{ id: 1 }] }, { relate: true, unrelate: true });
  await check('upsertGraph');
  await s.Tag.query().delete().where('label', 'w');
  await check('a related row deleted (its join row stays: the inner join leaves it out)');
  await s.Post.transaction(async (trx) => {
    await a.$relatedQuery('tags', trx).relate(2);
    t.deepEqual(await s.related('a'), [], 'inside the transaction, readers outside see what was committed');
  });
  await check('after the commit');
  await s.Post.transaction(async (trx) => {
    await a.$relatedQuery('tags', trx).relate(3);
    throw new Error('rolled back');
  }).catch(() => undefined);
  await check('after a rollback');
});

forEachSetup(test, 'many-to-many: a write to a related row drops its entries, and no list', async (t, kind, db) => {
  const s = await makeShelf(t, kind, db);
  await s.graph();
  await s.Tag.query().patch({ label: 'y2' }).where('label', 'y');
  s.selects.length = 0;
  t.deepEqual(await s.graph(), [['x', 'y2'], ['y2'], []]);
  t.is(s.selects.length, 2, `the posts and the patched row by id, no join list: ${s.selects.join(' | ')}`);
});

forEachSetup(test, 'many-to-many: a join list read before a relate, stored after it, is never served', async (t, kind, db) => {
  const s = await makeShelf(t, kind, db);
  const c = (await s.Post.get('c'))!;
  // the reader's join-list query has its (empty) answer and waits; the writer relates meanwhile
  const hold = holdNextSql(s.knex, /from .post_tags./);
  const reader = c.$relatedQuery('tags').then((tags) => tags);
  await hold.reached;
  await c.$relatedQuery('tags').relate(1);
  hold.release();
  t.deepEqual(s.labels(await reader), [], 'the reader answers what it read');
  t.deepEqual(await s.related('c'), ['x'], 'the next reader never gets the list from before the relate');
});

forEachStore(
  test,
  'many-to-many: join rows the database removes itself (a cascade) are seen once the owner declares the join table in cacheCascades',
  async (t, kind) => {
    const s = await makeShelf(t, kind, 'sqlite');
    // stands for ON DELETE CASCADE: a write the database makes, which no statement of the app shows
    await s.knex.raw('create trigger drop_join_rows after delete on tags begin delete from post_tags where tag_id = old.id; end');
    await s.graph();
    const before = s.selects.length;
    await s.Tag.query().delete().where('label', 'x');
    t.deepEqual(await s.graph(), await s.fromDb(), 'the deleted tag is left out whatever the lists say');
    await s.knex('tags').insert({ id: 1, label: 'x again' });
    t.notDeepEqual(await s.graph(), await s.fromDb(), 'without cacheCascades the list from before the cascade outlives it');
    t.true(s.selects.length > before);
    (s.Tag as { cacheCascades?: readonly string[] }).cacheCascades = ['post_tags'];
    await s.Tag.query().delete().where('label', 'y');
    t.deepEqual(await s.graph(), await s.fromDb(), 'with it, the delete drops the join lists too');
  },
);
