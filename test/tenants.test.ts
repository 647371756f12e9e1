import test from 'ava';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { cached } from 'objection-cache';
import { makePostClass, POSTS_DDL } from './helpers/fixture.js';
import { postgresServer } from './helpers/databases.js';
import { unscoped } from './helpers/keys.js';
import { forEachSetup, forEachStore, makeStore, storedKeys, useStores } from './helpers/stores.js';
import { countQueries, makeTenants, seedTenant } from './helpers/tenants.js';

useStores(test);

forEachSetup(test, 'tenants: bindKnex per database never shares an entry, cold or warm', async (t, kind, db) => {
  const s = await makeTenants(t, kind, db);
  const A = s.Post.bindKnex(s.a);
  const B = s.Post.bindKnex(s.b);
  for (let round = 0; round < 2; round++) {
    s.reset();
    t.is((await A.get('post-1'))?.title, 'A 1');
    t.is((await B.get('post-1'))?.title, 'B 1');
    t.is((await B.getById(2))?.title, 'B 2');
    t.is((await A.getById(2))?.title, 'A 2');
    t.is((await A.getByName('Post 3'))?.title, 'A 3');
    t.is((await B.getByName('Post 3'))?.title, 'B 3');
    t.deepEqual(
      (await B.getMany(['post-1', 'post-2', 'nope'])).map((p) => p?.title),
      ['B 1', 'B 2', undefined],
    );
    t.deepEqual(
      (await A.getMany(['post-1', 'post-2', 'nope'])).map((p) => p?.title),
      ['A 1', 'A 2', undefined],
    );
    // A lookup given a (non-transaction) knex reads that database's entries.
    t.is((await s.Post.get('post-2', s.b))?.title, 'B 2');
    t.is((await s.Post.get('post-2', s.a))?.title, 'A 2');
    if (round === 1) {
      // on MySQL the miss under 'nope' is read again in each database (its collation matches other spellings)
      t.is(s.queries.selects('a') + s.queries.selects('b'), db === 'mysql' ? 2 : 0, 'warm: every answer from the cache, each from its own database');
    }
  }
  const keys = (await storedKeys(s.store, kind)).filter((key) => key.includes(':k:slug:=post-1'));
  t.is(keys.length, 2, 'one entry of post-1 per database');
  t.is(new Set(keys.map(unscoped)).size, 1, 'the entries differ only in their scope');
});

forEachSetup(test, 'tenants: a write in one database flushes that database only', async (t, kind, db) => {
  const s = await makeTenants(t, kind, db);
  const A = s.Post.bindKnex(s.a);
  const B = s.Post.bindKnex(s.b);
  await A.get('post-1');
  await B.get('post-1');
  await A.query().patch({ title: 'A new' }).where('id', 1);
  s.reset();
  t.is((await A.get('post-1'))?.title, 'A new');
  t.is((await B.get('post-1'))?.title, 'B 1');
  t.is(s.queries.selects('a'), 1, "A's entry was flushed");
  t.is(s.queries.selects('b'), 0, "B's entry stands");
  await s.Post.query(s.b).patch({ slug: 'moved' }).where('id', 1);
  t.is(await B.get('post-1'), undefined);
  t.is((await B.get('moved'))?.title, 'B 1');
  t.is((await A.get('post-1'))?.title, 'A new');
  // a knex write, flush() and flushAll() act in the database of their knex
  await s.b('posts').update({ title: 'raw B' });
  t.is((await B.get('moved'))?.title, 'raw B');
  s.reset();
  t.is((await A.get('post-1'))?.title, 'A new');
  await B.flushAll();
  t.is((await A.get('post-1'))?.title, 'A new');
  t.is(s.queries.selects('a'), 0, 'flushAll of B leaves A alone');
  await A.flush({ id: 1, slug: 'post-1', name: 'Post 1' });
  t.is((await A.get('post-1'))?.title, 'A new');
  t.is(s.queries.selects('a'), 1, 'flush() of A reached A');
});

forEachSetup(test, "tenants: cached queries, cacheQueries lookups, relations and eager loading read through the query's own knex", async (t, kind, db) => {
  const s = await makeTenants(t, kind, db);
  (s.Post as { cacheQueries?: boolean }).cacheQueries = true;
  for (let round = 0; round < 2; round++) {
    s.reset();
    t.deepEqual(
      (await s.Post.query(s.a).cache().orderBy('id')).map((p) => p.title),
      ['A 1', 'A 2', 'A 3'],
    );
    t.deepEqual(
      (await s.Post.query(s.b).cache().orderBy('id')).map((p) => p.title),
      ['B 1', 'B 2', 'B 3'],
    );
    t.is((await s.Post.query(s.b).findById(1))?.title, 'B 1');
    t.is((await s.Post.query(s.a).findById(1))?.title, 'A 1');
    t.is((await s.Post.bindKnex(s.b).query().findOne({ slug: 'post-2' }))?.title, 'B 2');
    const graph = await s.Post.query(s.b).withGraphFetched('author').findById(2);
    t.is(graph?.author?.name, 'Ann of B');
    const post = await s.Post.query(s.a).findById(3);
    t.is((await post!.$relatedQuery('author', s.a))?.name, 'Ann of A');
    t.is((await post!.$relatedQuery('author', s.b))?.name, 'Ann of B');
    t.is(await s.Post.query(s.b).cache().resultSize(), 3);
    if (round === 1) t.is(s.queries.selects('a') + s.queries.selects('b'), 0, 'warm: each from its own database');
  }
  await s.Post.query(s.a).insert({ slug: 'post-4', name: 'Post 4', title: 'A 4' });
  t.is((await s.Post.query(s.a).cache()).length, 4);
  t.is((await s.Post.query(s.b).cache()).length, 3);
  t.is(await s.Post.query(s.b).cache().resultSize(), 3);
});

forEachStore(test, 'tenants: cached() values and their table dependencies belong to one database', async (t, kind) => {
  const s = await makeTenants(t, kind, 'sqlite');
  const A = s.Post.bindKnex(s.a);
  const B = s.Post.bindKnex(s.b);
  const count = (P: typeof A) => cached('post-count', async () => await P.query().resultSize(), { dependsOn: [P] });
  const byTable = (knex: Knex) =>
    cached('post-titles', async () => (await knex('posts').orderBy('id')).map((p: { title: string }) => p.title), {
      dependsOn: ['posts'],
      knex,
      store: s.store,
    });
  t.is(await count(A), 3);
  t.is(await count(B), 3);
  t.deepEqual(await byTable(s.a), ['A 1', 'A 2', 'A 3']);
  t.deepEqual(await byTable(s.b), ['B 1', 'B 2', 'B 3']);
  await B.query().insert({ slug: 'post-4', name: 'Post 4', title: 'B 4' });
  t.is(await count(B), 4);
  t.is(await count(A), 3);
  t.deepEqual(await byTable(s.b), ['B 1', 'B 2', 'B 3', 'B 4']);
  t.deepEqual(await byTable(s.a), ['A 1', 'A 2', 'A 3']);
  const row = (await B.getById(4))!;
  t.is(await cached('row', () => row.title, { dependsOn: [row] }), 'B 4');
  await t.throwsAsync(() => cached('mixed', () => 1, { dependsOn: [A, B] }), { instanceOf: TypeError, message: /another database/ });
});

forEachStore(
  test,
  'a class bound to no knex is a TypeError before any I/O; so is a knex whose connection is a function, unless the app names the scope',
  async (t, kind) => {
    const store = await makeStore(t, kind);
    const Post = makePostClass(store);
    await t.throwsAsync(() => Post.get('post-1'), { instanceOf: TypeError, message: /Post: no database connection/ });
    await t.throwsAsync(() => Post.flushAll(), { instanceOf: TypeError, message: /Post: no database connection/ });
    const dir = mkdtempSync(join(tmpdir(), 'oc-scope-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'db.sqlite');
    const byFunction = knexPkg({ client: 'better-sqlite3', connection: () => ({ filename: file }), useNullAsDefault: true });
    t.teardown(() => byFunction.destroy());
    let queries = 0;
    byFunction.on('query', () => queries++);
    await t.throwsAsync(() => Post.bindKnex(byFunction).get('post-1'), {
      instanceOf: TypeError,
      message: /Post: .*connection settings from a function.*scope/,
    });
    t.is(queries, 0);
    t.deepEqual(store.calls, {});
    // (a class of its own name: Objection caches bound classes per knex by class name and table)
    class Named extends makePostClass(store, { scope: 'main' }) {}
    await byFunction.schema.createTable('posts', POSTS_DDL);
    await byFunction('posts').insert({ slug: 'post-1', name: 'Post 1', title: 'T' });
    t.is((await Named.bindKnex(byFunction).get('post-1'))?.title, 'T');
    t.true((await storedKeys(store, kind)).some((key) => key.includes('{oc:=main:posts}')));
    class Empty extends makePostClass(store, { scope: '' }) {}
    await t.throwsAsync(async () => Empty.bindKnex(byFunction).get('x'), { instanceOf: TypeError, message: /Empty: the cache scope must be/ });
  },
);

forEachStore(test, 'two knex instances on one SQLite file share entries and flush each other; another file does not', async (t, kind) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc-scope-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const open = (filename: string) => {
    const knex = knexPkg({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
    t.teardown(() => knex.destroy());
    return knex;
  };
  const one = open(join(dir, 'one.sqlite'));
  const again = open(relative(process.cwd(), join(dir, 'one.sqlite'))); // the same file, spelled relative
  const other = open(join(dir, 'other.sqlite'));
  await seedTenant(one, 'one');
  await seedTenant(other, 'other');
  const store = await makeStore(t, kind);
  const Post = makePostClass(store);
  const queries = countQueries({ one, again, other });
  t.is((await Post.bindKnex(one).get('post-1'))?.title, 'one 1');
  queries.reset();
  t.is((await Post.bindKnex(again).get('post-1'))?.title, 'one 1');
  t.is(queries.selects('again'), 0, 'served from the entry filled through the other knex');
  t.is((await Post.bindKnex(other).get('post-1'))?.title, 'other 1');
  t.is(queries.selects('other'), 1);
  await Post.bindKnex(again).query().patch({ title: 'written through again' }).where('id', 1);
  t.is((await Post.bindKnex(one).get('post-1'))?.title, 'written through again');
  t.is((await Post.bindKnex(other).get('post-1'))?.title, 'other 1');
});

forEachStore(
  test,
  'PostgreSQL: two knex instances on one database share entries; schema-per-tenant (searchPath) and another database do not',
  async (t, kind) => {
    const { port } = await postgresServer();
    const admin = knexPkg({ client: 'pg', connection: { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' }, pool: { min: 0, max: 1 } });
    const database = `scope_${Math.random().toString(36).slice(2, 10)}`;
    await admin.raw(`create database ${database}`);
    await admin.destroy();
    const open = (extra: Partial<Knex.Config> = {}, connection: Record<string, unknown> = {}) => {
      const knex = knexPkg({
        client: 'pg',
        connection: { host: '127.0.0.1', port, user: 'postgres', database, ...connection },
        pool: { min: 0, max: 2 },
        ...extra,
      });
      t.teardown(() => knex.destroy());
      return knex;
    };
    const main = open();
    await main.raw('create schema tenant_a; create schema tenant_b');
    await seedTenant(main, 'public');
    await seedTenant(main, 'schema A', 'tenant_a');
    await seedTenant(main, 'schema B', 'tenant_b');
    const twin = open({}, { password: 'unused', application_name: 'twin' }); // same database, other credentials
    const tenantA = open({ searchPath: ['tenant_a'] });
    const tenantB = open({ searchPath: ['tenant_b'] });
    const store = await makeStore(t, kind);
    const Post = makePostClass(store);
    const queries = countQueries({ main, twin, tenantA, tenantB });
    t.is((await Post.bindKnex(main).get('post-1'))?.title, 'public 1');
    t.is((await Post.bindKnex(tenantA).get('post-1'))?.title, 'schema A 1');
    t.is((await Post.bindKnex(tenantB).get('post-1'))?.title, 'schema B 1');
    queries.reset();
    t.is((await Post.bindKnex(twin).get('post-1'))?.title, 'public 1');
    t.is((await Post.bindKnex(tenantB).get('post-1'))?.title, 'schema B 1');
    t.is(queries.selects('twin') + queries.selects('tenantB'), 0);
    await Post.bindKnex(tenantA).query().patch({ title: 'A again' }).where('id', 1);
    t.is((await Post.bindKnex(tenantA).get('post-1'))?.title, 'A again');
    t.is((await Post.bindKnex(tenantB).get('post-1'))?.title, 'schema B 1');
    t.is((await Post.bindKnex(main).get('post-1'))?.title, 'public 1');
    await Post.bindKnex(twin).query().patch({ title: 'twin wrote' }).where('id', 1);
    t.is((await Post.bindKnex(main).get('post-1'))?.title, 'twin wrote', 'a write through one knex flushes the twin');
  },
);

forEachStore(test, 'an app-named scope: a function of the knex keeps apart what the settings cannot (withUserParams)', async (t, kind) => {
  const dir = mkdtempSync(join(tmpdir(), 'oc-scope-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = knexPkg({ client: 'better-sqlite3', connection: { filename: join(dir, 'db.sqlite') }, useNullAsDefault: true });
  t.teardown(() => base.destroy());
  await base.schema.createTable('posts', POSTS_DDL);
  await base('posts').insert({ slug: 'post-1', name: 'Post 1', title: 'T' });
  const store = await makeStore(t, kind);
  const calls: string[] = [];
  const Post = makePostClass(store, {
    scope: (knex) => {
      const tenant = String((knex as Knex & { userParams?: { tenant?: string } }).userParams?.tenant ?? 'none');
      calls.push(tenant);
      return `tenant-${tenant}`;
    },
  });
  const one = base.withUserParams({ tenant: 'one' });
  const two = base.withUserParams({ tenant: 'two' });
  await Post.bindKnex(one).get('post-1');
  await Post.bindKnex(one).get('post-1');
  await Post.bindKnex(two).get('post-1');
  const keys = await storedKeys(store, kind);
  t.true(keys.some((key) => key.includes('{oc:=tenant-one:posts}')));
  t.true(keys.some((key) => key.includes('{oc:=tenant-two:posts}')));
  t.deepEqual(calls, ['one', 'two'], 'called once per knex instance');
  class Fixed extends makePostClass(store) {
    static override cacheScope = 'fixed';
  }
  await Fixed.bindKnex(one).get('post-1');
  t.true((await storedKeys(store, kind)).some((key) => key.includes('{oc:=fixed:posts}')));
});

test('each in-memory SQLite database is a scope of its own, and a knex keeps its scope in its transactions', async (t) => {
  const store = await makeStore(t, 'memory');
  const Post = makePostClass(store);
  const open = () => {
    const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
    t.teardown(() => knex.destroy());
    return knex;
  };
  const first = open();
  const second = open();
  await seedTenant(first, 'first');
  await seedTenant(second, 'second');
  t.is((await Post.bindKnex(first).get('post-1'))?.title, 'first 1');
  t.is((await Post.bindKnex(second).get('post-1'))?.title, 'second 1');
  await first.transaction(async (trx) => {
    await Post.query(trx).patch({ title: 'first, in a transaction' }).where('id', 1);
  });
  t.is((await Post.bindKnex(first).get('post-1'))?.title, 'first, in a transaction');
  t.is((await Post.bindKnex(second).get('post-1'))?.title, 'second 1');
});
