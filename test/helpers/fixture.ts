import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { Model } from 'objection';
import { CachedModel, type CacheOptions } from 'objection-cache';
import { CountingKeyv } from './counting-keyv.js';
import { makeKnex, type DbKind } from './databases.js';
import { makeStore, type StoreKind } from './stores.js';

export { CountingKeyv };

export interface PostRow {
  id: number;
  slug: string;
  name: string;
  title: string;
  published: boolean;
  createdAt: Date;
  meta: unknown;
  views: number;
  authorId: number | null;
}

export const POSTS_DDL = (table: Knex.CreateTableBuilder): void => {
  table.increments('id');
  table.string('slug').notNullable().unique();
  table.string('name').notNullable().unique();
  table.string('title').notNullable().defaultTo('');
  table.boolean('published').notNullable().defaultTo(false);
  table.bigInteger('createdAt').notNullable().defaultTo(0);
  table.text('meta');
  table.integer('views').notNullable().defaultTo(0);
  table.integer('authorId').nullable();
};

/**
 * Store calls in tests get a generous time limit: two cores running many test files at once can hold a Redis
 * reply past the 1 s default, and a timeout would turn a behaviour test into a timing test. The timeout tests
 * set their own.
 */
export const TEST_STORE_TIMEOUT = 20_000;

export function makePostClass(store: Keyv, options: CacheOptions = {}) {
  class Post extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT, ...options }) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug', 'name'];
    static override jsonAttributes = ['meta'];
    declare id: number;
    declare slug: string;
    declare name: string;
    declare title: string;
    declare published: boolean;
    declare createdAt: Date;
    declare meta: unknown;
    declare views: number;
    declare authorId: number | null;

    static getByName(name: string) {
      return this.getBy('name', name);
    }

    // SQLite keeps booleans as 0/1 and dates as epoch ms: map them the way an app would.
    override $parseDatabaseJson(json: Record<string, unknown>) {
      const parsed = super.$parseDatabaseJson(json);
      if (parsed.published !== undefined) parsed.published = Boolean(parsed.published);
      // SQLite gives the bigint column as a number, PostgreSQL as a string
      if (typeof parsed.createdAt === 'number' || typeof parsed.createdAt === 'string') parsed.createdAt = new Date(Number(parsed.createdAt));
      return parsed;
    }
    override $formatDatabaseJson(json: Record<string, unknown>) {
      const formatted = super.$formatDatabaseJson(json);
      if (formatted.createdAt instanceof Date) formatted.createdAt = formatted.createdAt.getTime();
      if (typeof formatted.published === 'boolean') formatted.published = formatted.published ? 1 : 0;
      return formatted;
    }
  }
  return Post;
}

export type PostClass = ReturnType<typeof makePostClass>;

export interface Fixture {
  knex: Knex;
  store: CountingKeyv;
  Post: PostClass;
  /** SQL of every query run since the last reset, in order. */
  queries: string[];
  selects(): string[];
  reset(): void;
  close(): Promise<void>;
}

/** A fresh in-memory SQLite database, counting store and Post class: nothing is shared between tests. */
export async function makeFixture(t: ExecutionContext, options: CacheOptions & { rows?: number; kind?: StoreKind; db?: DbKind } = {}): Promise<Fixture> {
  const { rows = 3, kind = 'memory', db = 'sqlite', ...cacheOptions } = options;
  const knex = await makeKnex(t, db);
  await knex.schema.createTable('posts', POSTS_DDL);
  for (let i = 1; i <= rows; i++) {
    await knex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}`, createdAt: 1_700_000_000_000 + i, meta: JSON.stringify({ n: i }) });
  }
  const store = await makeStore(t, kind);
  const Post = makePostClass(store, cacheOptions);
  Post.knex(knex);
  return { knex, store, Post, ...queryLog(knex, store), close: () => knex.destroy() };
}

/** Every query `knex` runs, the SELECTs among them, and a reset of both and of the store's counts. */
export function queryLog(knex: Knex, store: CountingKeyv): { queries: string[]; selects(): string[]; reset(): void } {
  const queries: string[] = [];
  knex.on('query', (q: { sql: string }) => queries.push(q.sql));
  return {
    queries,
    selects: () => queries.filter((sql) => /^\s*select/i.test(sql)),
    reset() {
      queries.length = 0;
      store.resetCounts();
    },
  };
}

export { gate } from './gates.js';
