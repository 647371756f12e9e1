import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { CachedModel, type CacheOptions } from 'objection-cache';
import { makePostClass, POSTS_DDL, TEST_STORE_TIMEOUT } from './fixture.js';
import { makeKnex, type DbKind } from './databases.js';
import { makeStore, type StoreKind } from './stores.js';

/** Authors and posts, created in the database (or schema) `knex` reads; rows carry the tenant's name. */
export async function seedTenant(knex: Knex, tenant: string, schema?: string): Promise<void> {
  const builder = schema ? knex.schema.withSchema(schema) : knex.schema;
  await builder.createTable('authors', (table) => {
    table.increments('id');
    table.string('handle').notNullable().unique();
    table.string('name').notNullable().defaultTo('');
  });
  await (schema ? knex.schema.withSchema(schema) : knex.schema).createTable('posts', POSTS_DDL);
  const from = (table: string) => (schema ? knex(table).withSchema(schema) : knex(table));
  await from('authors').insert([{ handle: 'ann', name: `Ann of ${tenant}` }]);
  for (let i = 1; i <= 3; i++) {
    await from('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `${tenant} ${i}`, authorId: 1 });
  }
}

/** Queries each knex ran, by name, to tell which database a read went to. */
export function countQueries(knexes: Record<string, Knex>): { selects(name: string): number; reset(): void } {
  const seen: Record<string, string[]> = {};
  for (const [name, knex] of Object.entries(knexes)) {
    seen[name] = [];
    knex.on('query', (q: { sql: string }) => seen[name]!.push(q.sql));
  }
  return {
    selects: (name) => seen[name]!.filter((sql) => /^\s*select/i.test(sql)).length,
    reset: () => Object.values(seen).forEach((list) => (list.length = 0)),
  };
}

/**
 * Two tenants, each its own database with the same keys and different rows, and model classes bound to no
 * knex at all: every read must go through the knex it is given.
 */
export async function makeTenants(t: ExecutionContext, kind: StoreKind, db: DbKind, options: CacheOptions = {}) {
  const a = await makeKnex(t, db);
  const b = await makeKnex(t, db);
  await seedTenant(a, 'A');
  await seedTenant(b, 'B');
  const store = await makeStore(t, kind);
  class Author extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT, ...options }) {
    static override tableName = 'authors';
    static override cacheKeys = ['handle'];
    declare id: number;
    declare handle: string;
    declare name: string;
  }
  class Post extends makePostClass(store, options) {
    declare author?: Author;
    static override get relationMappings() {
      return { author: { relation: Model.BelongsToOneRelation, modelClass: Author, join: { from: 'posts.authorId', to: 'authors.id' } } };
    }
  }
  const queries = countQueries({ a, b });
  return {
    a,
    b,
    store,
    Post,
    Author,
    queries,
    reset() {
      queries.reset();
      store.resetCounts();
    },
  };
}
