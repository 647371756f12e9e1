import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import { TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { makeKnex, type DbKind } from './helpers/databases.js';
import { forEachSetup, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Cached has-many (#15, part 3): a HasManyRelation whose related model declares the join column in
// `cacheIndexes` loads through its cached lists: `$relatedQuery` for one owner, `withGraphFetched` for many,
// invalidated by every write to the child table that changes a list, and by nothing else.

async function makeBlog(t: ExecutionContext, kind: StoreKind, db: DbKind) {
  const knex = await makeKnex(t, db);
  await knex.schema.createTable('authors', (table) => {
    table.increments('id');
    table.string('name').notNullable().unique();
  });
  await knex.schema.createTable('articles', (table) => {
    table.increments('id');
    table.integer('author_id');
    table.string('title').notNullable();
  });
  await knex('authors').insert([{ name: 'Ada' }, { name: 'Bob' }, { name: 'Cy' }]);
  await knex('articles').insert([
    { author_id: 1, title: 'A1' },
    { author_id: 1, title: 'A2' },
    { author_id: 2, title: 'B1' },
  ]);
  const store = await makeStore(t, kind);
  class Article extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'articles';
    static override cacheIndexes = ['author_id'];
    declare id: number;
    declare author_id: number | null;
    declare title: string;
  }
  class Author extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'authors';
    static override cacheKeys = ['name'];
    declare id: number;
    declare name: string;
    declare articles?: Article[];
    static override get relationMappings() {
      return { articles: { relation: Model.HasManyRelation, modelClass: Article, join: { from: 'authors.id', to: 'articles.author_id' } } };
    }
  }
  Article.knex(knex);
  Author.knex(knex);
  const selects: string[] = [];
  knex.on('query', (query: { sql: string }) => {
    if (/^select/i.test(query.sql)) selects.push(query.sql);
  });
  /** Every author's titles, as the DB has them (id order). */
  const fromDb = async (): Promise<string[][]> => {
    const rows = (await knex('articles').select('author_id', 'title').orderBy('id')) as { author_id: number | null; title: string }[];
    return [1, 2, 3].map((author) => rows.filter((row) => row.author_id === author).map((row) => row.title));
  };
  const graph = async (): Promise<string[][]> =>
    (await Author.query().withGraphFetched('articles').orderBy('id')).map((author) => (author.articles ?? []).map((article) => article.title));
  return { knex: knex as Knex, Article, Author, selects, fromDb, graph };
}

forEachSetup(test, 'has-many: $relatedQuery reads the cached list and rows; warm it makes no query', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const ada = (await b.Author.get('Ada'))!;
  b.selects.length = 0;
  t.deepEqual(
    (await ada.$relatedQuery('articles')).map((article) => article.title),
    ['A1', 'A2'],
  );
  t.is(b.selects.length, 2, 'cold: the list of ids, then the rows by id');
  t.true(b.selects[0]!.includes('order by'), b.selects[0]);
  b.selects.length = 0;
  const again = await ada.$relatedQuery('articles');
  t.deepEqual(
    again.map((article) => article.title),
    ['A1', 'A2'],
  );
  t.true(again[0] instanceof b.Article);
  t.is(b.selects.length, 0, 'warm: no query');
});

forEachSetup(test, 'has-many: withGraphFetched for many owners reads every list in one go; warm only the owners are queried', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  t.deepEqual(await b.graph(), await b.fromDb());
  b.selects.length = 0;
  t.deepEqual(await b.graph(), [['A1', 'A2'], ['B1'], []]);
  t.deepEqual(b.selects.length, 1, `warm: the authors' query only: ${b.selects.join(' | ')}`);
});

forEachSetup(test, 'has-many: every write to the child table that changes a list is seen; a write that does not keeps the list', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const ada = (await b.Author.get('Ada'))!;
  await b.graph();
  await ada.$relatedQuery('articles').insert({ title: 'A3' });
  t.deepEqual(await b.graph(), await b.fromDb(), 'insert through the relation');
  await b.Article.query().patch({ author_id: 3 }).where('title', 'B1');
  t.deepEqual(await b.graph(), await b.fromDb(), 'a row moved to another owner');
  await b.Article.query().delete().where('title', 'A1');
  t.deepEqual(await b.graph(), await b.fromDb(), 'delete');
  await b.Article.query().insert({ author_id: 2, title: 'B2' });
  t.deepEqual(await b.graph(), await b.fromDb(), 'insert');
  await b.Article.query().patch({ author_id: null }).where('title', 'A2');
  t.deepEqual(await b.graph(), await b.fromDb(), 'a row that leaves every list');
  await b.Article.transaction(async (trx) => {
    await b.Article.query(trx).patch({ author_id: 1 }).where('title', 'B2');
  });
  t.deepEqual(await b.graph(), await b.fromDb(), 'after the commit');
  // a write to one row that keeps it in its list: its own entries go, the lists stay
  await b.graph();
  await b.Article.query().patch({ title: 'A3, edited' }).where('title', 'A3');
  b.selects.length = 0;
  const titles = await b.graph();
  t.is(b.selects.length, 2, `the authors and the edited row by id, no list: ${b.selects.join(' | ')}`);
  t.deepEqual(titles, await b.fromDb());
});
