import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import { makePostClass, POSTS_DDL, queryLog, TEST_STORE_TIMEOUT } from './fixture.js';
import { makeKnex, type DbKind } from './databases.js';
import { makeStore, type StoreKind } from './stores.js';

/**
 * Authors, posts and tags, with relations between them, all cached in one counting store, on a fresh in-memory
 * SQLite database. `check()` compares every cached read (by every key, of every row and every value ever used)
 * with a direct DB read.
 */
export async function makeBlog(t: ExecutionContext, kind: StoreKind = 'memory', db: DbKind = 'sqlite', options: { cachedTags?: boolean } = {}) {
  const knex = await makeKnex(t, db);
  await knex.schema.createTable('authors', (table) => {
    table.increments('id');
    table.string('handle').notNullable().unique();
    table.string('name').notNullable().defaultTo('');
  });
  await knex.schema.createTable('posts', POSTS_DDL);
  await knex.schema.createTable('tags', (table) => {
    table.increments('id');
    table.string('label').notNullable().unique();
  });
  await knex.schema.createTable('post_tags', (table) => {
    table.integer('postId').notNullable();
    table.integer('tagId').notNullable();
  });
  const store = await makeStore(t, kind);

  class Author extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'authors';
    static override cacheKeys = ['handle'];
    declare id: number;
    declare handle: string;
    declare name: string;
    static override get relationMappings() {
      return {
        posts: { relation: Model.HasManyRelation, modelClass: Post, join: { from: 'authors.id', to: 'posts.authorId' } },
      };
    }
  }
  // Tags are a plain model unless asked for: queries that read them can then not be cached.
  const TagBase = (options.cachedTags ? CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) : Model) as typeof Model;
  class Tag extends TagBase {
    static override tableName = 'tags';
    declare id: number;
    declare label: string;
  }
  class Post extends makePostClass(store) {
    declare author?: Author;
    declare tags?: Tag[];
    static override get relationMappings() {
      return {
        author: { relation: Model.BelongsToOneRelation, modelClass: Author, join: { from: 'posts.authorId', to: 'authors.id' } },
        tags: {
          relation: Model.ManyToManyRelation,
          modelClass: Tag,
          join: { from: 'posts.id', through: { from: 'post_tags.postId', to: 'post_tags.tagId' }, to: 'tags.id' },
        },
      };
    }
  }
  Author.knex(knex);
  Post.knex(knex);
  Tag.knex(knex);

  await knex('authors').insert([
    { handle: 'ann', name: 'Ann' },
    { handle: 'bob', name: 'Bob' },
  ]);
  for (let i = 1; i <= 4; i++) {
    await knex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}`, authorId: i <= 2 ? 1 : 2, views: i });
  }
  await knex('tags').insert([{ label: 'x' }, { label: 'y' }]);

  const log = queryLog(knex, store);

  // Every key value ever looked up, so check() also covers values no row holds any more.
  const seen = {
    posts: { id: new Set<unknown>(), slug: new Set<unknown>(), name: new Set<unknown>() },
    authors: { id: new Set<unknown>(), handle: new Set<unknown>() },
  };

  /** Warm the cache: every key of every row, plus some misses. */
  async function warm(extra: { slug?: string[]; name?: string[]; handle?: string[] } = {}): Promise<void> {
    const posts = await knex('posts');
    const authors = await knex('authors');
    for (const column of ['id', 'slug', 'name'] as const) {
      const values = [
        ...posts.map((p: Record<string, unknown>) => p[column]),
        ...((column !== 'id' && extra[column]) || []),
        ...(column === 'id' ? [90, 91] : []),
      ];
      values.forEach((v) => seen.posts[column].add(v));
      await Post.getManyBy(column, values as string[]);
    }
    for (const column of ['id', 'handle'] as const) {
      const values = [
        ...authors.map((a: Record<string, unknown>) => a[column]),
        ...((column === 'handle' && extra.handle) || []),
        ...(column === 'id' ? [90] : []),
      ];
      values.forEach((v) => seen.authors[column].add(v));
      await Author.getManyBy(column, values as string[]);
    }
  }

  /** Every cached read equals the DB's answer, for every row now present and every key value ever seen. */
  async function check(label = ''): Promise<void> {
    for (const p of await knex('posts')) for (const c of ['id', 'slug', 'name'] as const) seen.posts[c].add(p[c]);
    for (const a of await knex('authors')) for (const c of ['id', 'handle'] as const) seen.authors[c].add(a[c]);
    for (const column of ['id', 'slug', 'name'] as const) {
      for (const value of seen.posts[column]) {
        const cached = await Post.getBy(column, value as string);
        const direct = await Post.query()
          .where(column, value as string)
          .first();
        t.deepEqual(cached?.$toJson(), direct?.$toJson(), `${label} Post.${column} = ${String(value)}`);
      }
    }
    for (const column of ['id', 'handle'] as const) {
      for (const value of seen.authors[column]) {
        const cached = await Author.getBy(column, value as string);
        const direct = await Author.query()
          .where(column, value as string)
          .first();
        t.deepEqual(cached?.$toJson(), direct?.$toJson(), `${label} Author.${column} = ${String(value)}`);
      }
    }
  }

  return {
    knex: knex as Knex,
    store,
    Post,
    Author,
    Tag,
    ...log,
    warm,
    check,
  };
}
