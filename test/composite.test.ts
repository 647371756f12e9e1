import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { Model, raw, snakeCaseMappers, transaction, type TransactionOrKnex } from 'objection';
import { CachedModel } from 'objection-cache';
import { queryLog, TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { makeKnex, type DbKind } from './helpers/databases.js';
import { gated } from './helpers/gates.js';
import { forEachSetup, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Composite keys (#15, part 1): a composite primary key (`idColumn = ['tenant_id', 'id']`) and composite natural
// keys (`cacheKeys = [['tenantId', 'slug'], 'uuid']`), looked up by tuples given as arrays in the declared column
// order or as objects keyed by property, beside single-column keys on the same model.

/** One component of a key. */
type Part = string | number | bigint;
/** A composite key: its parts in the declared column order, or an object keyed by property. */
type Tuple = readonly Part[] | Readonly<Record<string, Part>>;
type Key = Part | Tuple;
type Columns = string | readonly string[];

/**
 * The lookups of a cached class, with tuples. The calls go to the class's own statics; this view only lets the
 * file type-check whichever way the package's declarations spell a tuple.
 */
interface Lookups<M> {
  get(key: Key, trx?: TransactionOrKnex): Promise<M | undefined>;
  getById(id: Key, trx?: TransactionOrKnex): Promise<M | undefined>;
  getBy(columns: Columns, value: Key, trx?: TransactionOrKnex): Promise<M | undefined>;
  getMany(keys: readonly Key[], trx?: TransactionOrKnex): Promise<(M | undefined)[]>;
  getManyBy(columns: Columns, values: readonly Key[], trx?: TransactionOrKnex): Promise<(M | undefined)[]>;
}

/** The same lookups taking anything, for the calls that must be refused. */
type LooseLookups = { readonly [K in keyof Lookups<unknown>]: (...args: unknown[]) => Promise<unknown> };

function lookups<C extends abstract new (...args: never[]) => object>(modelClass: C): Lookups<InstanceType<C>> {
  return modelClass as unknown as Lookups<InstanceType<C>>;
}

/** `cacheKeys` with composite entries, as the model declares them. */
function compositeKeys(keys: readonly (string | readonly string[])[]): readonly string[] {
  return keys as unknown as readonly string[];
}

type KeyTuple = readonly [number, string];
type IdTuple = readonly [number, number];

interface Extra {
  keys?: KeyTuple[];
  ids?: IdTuple[];
  uuids?: string[];
}

/**
 * Tenants and their posts (`tenant_posts`: primary key (tenant_id, id), unique (tenant_id, slug), unique uuid;
 * snake_case columns, camelCase properties), and memberships (primary key (tenantId, userId), no other cache key,
 * no name mappers), all cached in one counting store. `keysAs: 'columns'` declares the post's cache keys by their
 * DB column names. The same slug and the same id live in two tenants: a lookup that drops a component of a tuple
 * answers the wrong row.
 */
async function makeComposite(t: ExecutionContext, kind: StoreKind, db: DbKind, options: { keysAs?: 'properties' | 'columns' } = {}) {
  const knex = await makeKnex(t, db);
  await knex.schema.createTable('tenants', (table) => {
    table.increments('id');
    table.string('name').notNullable().unique();
  });
  await knex.schema.createTable('tenant_posts', (table) => {
    table.integer('tenant_id').notNullable();
    table.integer('id').notNullable();
    table.string('slug').notNullable();
    table.string('uuid').notNullable().unique();
    table.string('title').notNullable().defaultTo('');
    table.integer('views').notNullable().defaultTo(0);
    table.primary(['tenant_id', 'id']);
    table.unique(['tenant_id', 'slug']);
  });
  await knex.schema.createTable('memberships', (table) => {
    table.integer('tenantId').notNullable();
    table.integer('userId').notNullable();
    table.string('role').notNullable().defaultTo('member');
    table.primary(['tenantId', 'userId']);
  });
  await knex('tenants').insert([{ name: 'One' }, { name: 'Two' }]);
  await knex('tenant_posts').insert([
    { tenant_id: 1, id: 1, slug: 'hello', uuid: 'u-1-1', title: 'One hello', views: 1 },
    { tenant_id: 1, id: 2, slug: 'world', uuid: 'u-1-2', title: 'One world', views: 2 },
    { tenant_id: 2, id: 1, slug: 'hello', uuid: 'u-2-1', title: 'Two hello', views: 3 },
    { tenant_id: 2, id: 3, slug: 'other', uuid: 'u-2-3', title: 'Two other', views: 4 },
  ]);
  await knex('memberships').insert([
    { tenantId: 1, userId: 10, role: 'owner' },
    { tenantId: 1, userId: 11, role: 'member' },
    { tenantId: 2, userId: 10, role: 'member' },
  ]);
  const store = await makeStore(t, kind);

  class TenantPost extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'tenant_posts';
    static override idColumn = ['tenant_id', 'id'];
    static override columnNameMappers = snakeCaseMappers();
    static override cacheKeys = compositeKeys(options.keysAs === 'columns' ? [['tenant_id', 'slug'], 'uuid'] : [['tenantId', 'slug'], 'uuid']);
    declare tenantId: number;
    declare id: number;
    declare slug: string;
    declare uuid: string;
    declare title: string;
    declare views: number;
  }
  class Tenant extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'tenants';
    static override cacheKeys = ['name'];
    declare id: number;
    declare name: string;
    declare posts?: TenantPost[];
    static override get relationMappings() {
      return { posts: { relation: Model.HasManyRelation, modelClass: TenantPost, join: { from: 'tenants.id', to: 'tenant_posts.tenant_id' } } };
    }
  }
  class Membership extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'memberships';
    static override idColumn = ['tenantId', 'userId'];
    declare tenantId: number;
    declare userId: number;
    declare role: string;
  }
  TenantPost.knex(knex);
  Tenant.knex(knex);
  Membership.knex(knex);

  const log = queryLog(knex, store);
  const posts = lookups(TenantPost);

  // Every key ever looked up (values of rows now gone, and misses, included), so check() covers them all.
  const seen = { keys: new Map<string, KeyTuple>(), ids: new Map<string, IdTuple>(), uuids: new Set<string>() };
  const see = (extra: Extra) => {
    for (const key of extra.keys ?? []) seen.keys.set(JSON.stringify(key), key);
    for (const id of extra.ids ?? []) seen.ids.set(JSON.stringify(id), id);
    for (const uuid of extra.uuids ?? []) seen.uuids.add(uuid);
  };
  const seeRows = async () => {
    const rows: { tenant_id: number; id: number; slug: string; uuid: string }[] = await knex('tenant_posts');
    see({ keys: rows.map((r) => [r.tenant_id, r.slug]), ids: rows.map((r) => [r.tenant_id, r.id]), uuids: rows.map((r) => r.uuid) });
  };
  // Misses the write paths below may turn into rows: a slug of tenant 2 in tenant 1 and back, tenant 3.
  see({
    keys: [
      [1, 'other'],
      [2, 'world'],
      [3, 'hello'],
      [1, 'new'],
    ],
    ids: [
      [1, 3],
      [2, 2],
      [3, 1],
      [1, 5],
    ],
    uuids: ['u-new'],
  });

  const direct = {
    key: ([tenantId, slug]: KeyTuple) => TenantPost.query().where('tenant_id', tenantId).where('slug', slug).first(),
    id: ([tenantId, id]: IdTuple) => TenantPost.query().findById([tenantId, id]),
    uuid: (uuid: string) => TenantPost.query().where('uuid', uuid).first(),
  };

  /** Warm the cache: every key of every row and every key seen, hits and misses, by each key. */
  async function warm(extra: Extra = {}): Promise<void> {
    see(extra);
    await seeRows();
    await posts.getManyBy(['tenantId', 'slug'], [...seen.keys.values()]);
    await Promise.all([...seen.ids.values()].map((id) => posts.getById(id)));
    await posts.getManyBy('uuid', [...seen.uuids]);
  }

  /** Every cached read equals the DB's answer, for every row now present and every key ever seen. */
  async function check(label = ''): Promise<void> {
    await seeRows();
    const keys = [...seen.keys.values()];
    // one DB read at a time: a test holds few PostgreSQL connections, and the file runs many tests at once
    const expected: (InstanceType<typeof TenantPost> | undefined)[] = [];
    for (const key of keys) expected.push(await direct.key(key));
    for (const [i, key] of keys.entries()) {
      const want = expected[i]?.$toJson();
      t.deepEqual((await posts.get(key))?.$toJson(), want, `${label} get(${JSON.stringify(key)})`);
      t.deepEqual((await posts.get({ tenantId: key[0], slug: key[1] }))?.$toJson(), want, `${label} get({ tenantId, slug }) of ${JSON.stringify(key)}`);
    }
    t.deepEqual(
      (await posts.getMany(keys)).map((row) => row?.$toJson()),
      expected.map((row) => row?.$toJson()),
      `${label} getMany of every (tenantId, slug)`,
    );
    for (const id of seen.ids.values()) {
      t.deepEqual((await posts.getById(id))?.$toJson(), (await direct.id(id))?.$toJson(), `${label} getById(${JSON.stringify(id)})`);
    }
    for (const uuid of seen.uuids) {
      t.deepEqual((await posts.getBy('uuid', uuid))?.$toJson(), (await direct.uuid(uuid))?.$toJson(), `${label} getBy('uuid', ${uuid})`);
    }
  }

  return {
    knex: knex as Knex,
    store,
    TenantPost,
    Tenant,
    Membership,
    posts,
    ...log,
    warm,
    check,
  };
}

type Composite = Awaited<ReturnType<typeof makeComposite>>;

const titles = (rows: readonly ({ title: string } | undefined)[]) => rows.map((row) => row?.title);

// Lookups and what they cost

forEachSetup(test, 'composite keys: a cold get makes one query, a warm one none, by array, object, column list or DB column names', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  const hello = await posts.get([1, 'hello']);
  t.is(hello?.title, 'One hello');
  t.true(hello instanceof c.TenantPost);
  t.is(c.selects().length, 1);
  c.reset();
  const again = [
    await posts.get([1, 'hello']),
    await posts.get({ tenantId: 1, slug: 'hello' }),
    await posts.get({ slug: 'hello', tenantId: 1 }),
    await posts.getBy(['tenantId', 'slug'], [1, 'hello']),
    await posts.getBy(['tenant_id', 'slug'], [1, 'hello']),
    await posts.getBy(['tenantId', 'slug'], { tenantId: 1, slug: 'hello' }),
  ];
  t.deepEqual(
    again.map((row) => [row?.tenantId, row?.id, row?.title]),
    Array.from({ length: again.length }, () => [1, 1, 'One hello']),
  );
  t.is(c.queries.length, 0, 'every form of the tuple reads the one warm entry');
  t.not(again[0], again[1], 'each lookup answers a fresh instance');
  again[0]!.title = 'mutated';
  t.is((await posts.get([1, 'hello']))?.title, 'One hello', 'mutating an answer does not reach the cache');

  c.reset();
  t.is((await posts.get([2, 'hello']))?.title, 'Two hello', 'the same slug in another tenant is another key');
  t.is(c.selects().length, 1);
  t.is((await posts.getById([2, 1]))?.title, 'Two hello');
  t.is((await posts.getById([1, 1]))?.title, 'One hello');
  t.is(c.selects().length, 3);
  c.reset();
  t.is((await posts.getById({ tenantId: 2, id: 1 }))?.title, 'Two hello');
  t.is((await posts.getById([1, 1]))?.title, 'One hello');
  t.is((await posts.getBy(['tenant_id', 'id'], [1, 1]))?.title, 'One hello', 'the id columns are a key too');
  t.is(c.queries.length, 0);
});

forEachSetup(test, 'composite keys: misses are cached too, by key and by id', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  t.is(await posts.get([9, 'hello']), undefined);
  t.is(await posts.get([1, 'other']), undefined, "tenant 2's slug is not tenant 1's");
  t.is(await posts.getById([2, 2]), undefined, "tenant 1's id is not tenant 2's");
  t.is(c.selects().length, 3);
  c.reset();
  t.is(await posts.get([9, 'hello']), undefined);
  t.is(await posts.get({ tenantId: 1, slug: 'other' }), undefined);
  t.is(await posts.getById({ tenantId: 2, id: 2 }), undefined);
  t.deepEqual(
    await posts.getMany([
      [9, 'hello'],
      [1, 'other'],
    ]),
    [undefined, undefined],
  );
  // MySQL's collation matches a string under other spellings: there a miss under one is not cached
  t.is(c.queries.length, db === 'mysql' ? 3 : 0);
});

forEachSetup(test, 'composite keys: a cold getMany of N tuples is one DB query, aligned with its input; then none', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  await c.knex('tenant_posts').insert(Array.from({ length: 40 }, (_, i) => ({ tenant_id: 5 + (i % 4), id: 100 + i, slug: `s${i}`, uuid: `u-bulk-${i}` })));
  const keys: Key[] = [
    [1, 'world'],
    { tenantId: 2, slug: 'hello' },
    [3, 'hello'],
    [1, 'hello'],
    [1, 'world'],
    ...Array.from({ length: 40 }, (_, i): Key => [5 + (i % 4), `s${i}`]),
    [5, 's1'], // s1 is tenant 6's
  ];
  c.reset();
  const rows = await posts.getMany(keys);
  t.is(c.selects().length, 1, 'one query for every tuple that missed');
  t.is(rows.length, keys.length);
  t.deepEqual(titles(rows.slice(0, 5)), ['One world', 'Two hello', undefined, 'One hello', 'One world']);
  t.deepEqual(
    rows.slice(5, 45).map((row) => [row?.tenantId, row?.slug]),
    Array.from({ length: 40 }, (_, i) => [5 + (i % 4), `s${i}`]),
  );
  t.is(rows[45], undefined);
  t.not(rows[0], rows[4], 'a key asked twice gets two instances');
  t.true(rows.every((row) => row === undefined || row instanceof c.TenantPost));
  c.reset();
  t.deepEqual(
    (await posts.getMany(keys)).map((row) => row?.uuid),
    rows.map((row) => row?.uuid),
  );
  t.is(c.queries.length, db === 'mysql' ? 1 : 0, 'warm, hits and misses alike (on MySQL the misses under strings are read again, in one query)');

  c.reset();
  const by = await posts.getManyBy(['tenantId', 'slug'], [[2, 'other'], [2, 'world'], { tenantId: 1, slug: 'world' }]);
  t.deepEqual(titles(by), ['Two other', undefined, 'One world']);
  t.is(c.selects().length, 1);
  c.reset();
  const byColumns = await posts.getManyBy(
    ['tenant_id', 'slug'],
    [
      [2, 'other'],
      [2, 'world'],
    ],
  );
  t.deepEqual(titles(byColumns), ['Two other', undefined]);
  t.is(c.queries.length, db === 'mysql' ? 1 : 0, 'on MySQL the miss under a string is read again');
});

forEachSetup(test, 'composite keys: single-column keys keep working on the same model', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  t.is((await posts.getBy('uuid', 'u-2-3'))?.slug, 'other');
  t.deepEqual(titles(await posts.getManyBy('uuid', ['u-1-2', 'nope', 'u-2-1'])), ['One world', undefined, 'Two hello']);
  t.is(c.selects().length, 2);
  c.reset();
  t.is((await posts.getBy('uuid', 'u-2-3'))?.slug, 'other');
  t.is(await posts.getBy('uuid', 'nope'), undefined);
  t.is(c.queries.length, db === 'mysql' ? 1 : 0, 'on MySQL a miss under a string is not cached');
  await c.TenantPost.query().patch({ uuid: 'u-moved' }).where('uuid', 'u-2-3');
  t.is(await posts.getBy('uuid', 'u-2-3'), undefined);
  t.is((await posts.getBy('uuid', 'u-moved'))?.slug, 'other');
});

forEachSetup(test, 'composite keys: a bigint component reads the same row', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  t.is((await c.posts.get([2n, 'other']))?.title, 'Two other');
  t.is((await c.posts.getById([2n, 3n]))?.title, 'Two other');
  t.is((await c.posts.getById({ tenantId: 1n, id: 2 }))?.title, 'One world');
});

forEachSetup(test, 'composite keys: cacheKeys declared by DB column names under snakeCaseMappers', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db, { keysAs: 'columns' });
  const { posts } = c;
  t.is((await posts.get([2, 'hello']))?.title, 'Two hello');
  c.reset();
  t.is((await posts.get({ tenantId: 2, slug: 'hello' }))?.title, 'Two hello');
  t.is((await posts.getBy(['tenant_id', 'slug'], [2, 'hello']))?.title, 'Two hello');
  t.is((await posts.getBy(['tenantId', 'slug'], [2, 'hello']))?.title, 'Two hello');
  t.is(c.queries.length, 0);
  await c.warm();
  await c.TenantPost.query().patch({ slug: 'hi' }).where('tenant_id', 2).where('id', 1);
  await c.check('after:');
  t.is(await posts.get([2, 'hello']), undefined);
});

forEachSetup(test, 'composite id with no cacheKeys: get() reads by the id, unmapped camelCase columns', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const members = lookups(c.Membership);
  t.is((await members.get([1, 10]))?.role, 'owner');
  t.is((await members.get([2, 10]))?.role, 'member');
  t.is(c.selects().length, 2);
  c.reset();
  t.is((await members.get({ tenantId: 1, userId: 10 }))?.role, 'owner');
  t.is((await members.getById([1, 10]))?.role, 'owner', 'get() and getById() are one key here');
  t.deepEqual(
    (await members.getMany([[2, 10], { userId: 10, tenantId: 1 }])).map((m) => m?.role),
    ['member', 'owner'],
  );
  t.is(c.queries.length, 0);
  t.deepEqual(
    (
      await members.getMany([
        [1, 11],
        [2, 11],
        [3, 10],
      ])
    ).map((m) => m?.role),
    ['member', undefined, undefined],
  );
  t.is(c.selects().length, 1);

  await c.Membership.query().patch({ role: 'admin' }).where({ tenantId: 2, userId: 10 });
  t.is((await members.get([2, 10]))?.role, 'admin');
  t.is((await members.get([1, 10]))?.role, 'owner');
  await c.Membership.query().insert({ tenantId: 2, userId: 11, role: 'new' });
  t.is((await members.get([2, 11]))?.role, 'new', 'the cached miss went with the insert');
  await (await c.Membership.query().findById([1, 11]))!.$query().delete();
  t.is(await members.get([1, 11]), undefined);
  await c.Membership.query().patch({ userId: 12 }).where('tenantId', 1);
  t.deepEqual(
    (
      await members.getMany([
        [1, 10],
        [1, 12],
      ])
    ).map((m) => m?.role),
    [undefined, 'owner'],
  );
});

// Bad input

const refused: [string, (p: LooseLookups) => Promise<unknown>][] = [
  ['get: a tuple one short', (p) => p.get([1])],
  ['get: a tuple one long', (p) => p.get([1, 'hello', 'x'])],
  ['get: an empty tuple', (p) => p.get([])],
  ['get: a null component', (p) => p.get([null, 'hello'])],
  ['get: an undefined component', (p) => p.get([1, undefined])],
  ['get: a boolean component', (p) => p.get([true, 'hello'])],
  ['get: an object component', (p) => p.get([{}, 'hello'])],
  ['get: an array component', (p) => p.get([[1], 'hello'])],
  ['get: a NaN component', (p) => p.get([Number.NaN, 'hello'])],
  ['get: an Infinity component', (p) => p.get([Number.POSITIVE_INFINITY, 'hello'])],
  ['get: an object missing a column', (p) => p.get({ tenantId: 1 })],
  ['get: an object with a null column', (p) => p.get({ tenantId: 1, slug: null })],
  ['get: an object with an undefined column', (p) => p.get({ tenantId: undefined, slug: 'hello' })],
  ['get: a string where a tuple is needed', (p) => p.get('hello')],
  ['get: a number where a tuple is needed', (p) => p.get(1)],
  ['get: null', (p) => p.get(null)],
  ['getById: a scalar where the composite id is needed', (p) => p.getById(1)],
  ['getById: a tuple one short', (p) => p.getById([1])],
  ['getById: an object missing the id', (p) => p.getById({ tenantId: 1 })],
  ['getById: a boolean component', (p) => p.getById([1, false])],
  ['getBy: an unknown column list', (p) => p.getBy(['tenantId', 'title'], [1, 'x'])],
  ['getBy: a column list one long', (p) => p.getBy(['tenantId', 'slug', 'uuid'], [1, 'hello', 'u-1-1'])],
  ['getBy: one column of a composite key', (p) => p.getBy('slug', 'hello')],
  ['getBy: the other column of a composite key', (p) => p.getBy('tenantId', 1)],
  ['getBy: one column of the composite id', (p) => p.getBy('id', 1)],
  ['getBy: a scalar for a column list', (p) => p.getBy(['tenantId', 'slug'], 'hello')],
  ['getBy: a tuple for a single column', (p) => p.getBy('uuid', ['u-1-1'])],
  ['getBy: a tuple of the wrong length for a column list', (p) => p.getBy(['tenantId', 'slug'], [1])],
  ['getMany: one bad tuple among good ones', (p) => p.getMany([[1, 'hello'], [2]])],
  ['getMany: a scalar among tuples', (p) => p.getMany([[1, 'hello'], 'world'])],
  ['getMany: a null component among good tuples', (p) => p.getMany([{ tenantId: 1, slug: 'hello' }, [null, 'world']])],
  [
    'getManyBy: a bad tuple among good ones',
    (p) =>
      p.getManyBy(
        ['tenantId', 'slug'],
        [
          [1, 'hello'],
          [1, null],
        ],
      ),
  ],
  ['getManyBy: an unknown column list', (p) => p.getManyBy(['slug', 'title'], [['hello', 'x']])],
];

forEachSetup(test, 'composite keys: bad tuples, columns and scalars are a TypeError naming the model, before any I/O', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const loose = c.TenantPost as unknown as LooseLookups;
  c.reset();
  for (const [label, call] of refused) {
    await t.throwsAsync(async () => call(loose), { instanceOf: TypeError, message: /TenantPost/ }, label);
  }
  t.deepEqual(c.queries, [], 'no DB query');
  t.deepEqual(c.store.calls, {}, 'no store call');
  t.is((await c.posts.get([1, 'hello']))?.title, 'One hello', 'and the model still answers');
});

// Invalidation: each write path of Objection, on a warm cache (hits and cached misses by every key, the tuples
// the write creates included); afterwards every cached read equals a direct DB read.

const paths: [string, (c: Composite) => PromiseLike<unknown>, Extra?][] = [
  [
    'query().insert() of a tuple cached as a miss',
    (c) => c.TenantPost.query().insert({ tenantId: 1, id: 3, slug: 'other', uuid: 'u-1-3', title: 'One other' }),
    { uuids: ['u-1-3'] },
  ],
  ['query().insert() of new keys', (c) => c.TenantPost.query().insert({ tenantId: 1, id: 5, slug: 'new', uuid: 'u-new', title: 'New' })],
  ['patch() of the slug only', (c) => c.TenantPost.query().patch({ slug: 'renamed' }).where({ tenant_id: 1, id: 1 }), { keys: [[1, 'renamed']] }],
  ['patch() of the tenantId only: the new tuple was a cached miss', (c) => c.TenantPost.query().patch({ tenantId: 2 }).where({ tenant_id: 1, id: 2 })],
  ['patch() of a column that is no key', (c) => c.TenantPost.query().patch({ title: 'plain' }).where('slug', 'hello')],
  ['patch() of the uuid', (c) => c.TenantPost.query().patch({ uuid: 'u-changed' }).where({ tenant_id: 2, id: 3 }), { uuids: ['u-changed'] }],
  ['update().where()', (c) => c.TenantPost.query().update({ tenantId: 1, id: 3, slug: 'new', uuid: 'u-new', title: 'Updated' }).where({ tenant_id: 2, id: 3 })],
  ['findById().patch()', (c) => c.TenantPost.query().findById([2, 1]).patch({ slug: 'world', title: 'Two world' })],
  ['patchAndFetchById()', (c) => c.TenantPost.query().patchAndFetchById([1, 1], { slug: 'fetched', title: 'Fetched' }), { keys: [[1, 'fetched']] }],
  ['deleteById()', (c) => c.TenantPost.query().deleteById([2, 1])],
  ['delete().where()', (c) => c.TenantPost.query().delete().where('slug', 'hello')],
  [
    'bulk patch() of a component over many rows',
    (c) => c.TenantPost.query().patch({ tenantId: 3 }).where('tenant_id', 2),
    { keys: [[3, 'other']], ids: [[3, 3]] },
  ],
  [
    'bulk patch() setting a component with raw()',
    (c) =>
      c.TenantPost.query()
        .patch({ slug: raw("concat(slug, '-x')") as never })
        .where('views', '>', 1),
    {
      keys: [
        [1, 'world-x'],
        [2, 'hello-x'],
        [2, 'other-x'],
      ],
    },
  ],
  ['bulk patch() of a column that is no key', (c) => c.TenantPost.query().patch({ title: 'bulk' }).where('views', '>', 0)],
  [
    'insert().onConflict(id columns).merge() rewriting a component',
    (c) => c.TenantPost.query().insert({ tenantId: 1, id: 1, slug: 'upserted', uuid: 'u-1-1', title: 'Upserted' }).onConflict(['tenant_id', 'id']).merge(),
    { keys: [[1, 'upserted']] },
  ],
  [
    'insert().onConflict(composite key).merge() of a row that exists and one that does not',
    // one row per statement: Objection inserts many rows at once on PostgreSQL only
    async (c) => {
      await c.TenantPost.query().insert({ tenantId: 2, id: 3, slug: 'other', uuid: 'u-2-3', title: 'Merged' }).onConflict(['tenant_id', 'slug']).merge();
      await c.TenantPost.query().insert({ tenantId: 1, id: 5, slug: 'new', uuid: 'u-new', title: 'New' }).onConflict(['tenant_id', 'slug']).merge();
    },
  ],
  [
    'insertGraph() through a relation',
    (c) =>
      c.Tenant.query().insertGraph({
        name: 'Three',
        posts: [
          { id: 1, slug: 'hello', uuid: 'u-3-1', title: 'Three hello' },
          { id: 2, slug: 'world', uuid: 'u-3-2', title: 'Three world' },
        ],
      } as never),
    { keys: [[3, 'world']], ids: [[3, 2]], uuids: ['u-3-1', 'u-3-2'] },
  ],
  ['insertGraph() of the model', (c) => c.TenantPost.query().insertGraph([{ tenantId: 1, id: 5, slug: 'new', uuid: 'u-new', title: 'Graph' }] as never)],
  [
    'relatedQuery().patch()',
    (c) =>
      c.Tenant.relatedQuery('posts')
        .for(1)
        .patch({ slug: raw("concat(slug, '!')") } as never),
    {
      keys: [
        [1, 'hello!'],
        [1, 'world!'],
      ],
    },
  ],
  ['$query().patch() of a component', async (c) => (await c.TenantPost.query().findById([1, 2]))!.$query().patch({ slug: 'inst' }), { keys: [[1, 'inst']] }],
  [
    '$query().update()',
    async (c) => {
      const post = (await c.TenantPost.query().findById([2, 3]))!;
      post.slug = 'world';
      return post.$query().update();
    },
  ],
  ['$query().delete()', async (c) => (await c.TenantPost.query().findById([1, 1]))!.$query().delete()],
  [
    'save() of an existing row changing a component',
    async (c) => {
      const post = (await c.posts.get([2, 'other']))!;
      post.slug = 'saved';
      return post.save();
    },
    { keys: [[2, 'saved']] },
  ],
  ['delete() of an instance', async (c) => (await c.TenantPost.query().findById([2, 3]))!.delete()],
];

for (const [label, write, extra] of paths) {
  forEachSetup(test, `composite keys: ${label} leaves no stale entry`, async (t, kind, db) => {
    const c = await makeComposite(t, kind, db);
    await c.warm(extra);
    await c.check('before:');
    await write(c);
    await c.check('after:');
  });
}

forEachSetup(test, 'composite keys: patching one component flushes the old tuple and the new one', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  t.is(await posts.get([2, 'world']), undefined);
  t.is((await posts.get([1, 'world']))?.title, 'One world');
  t.is(await posts.getById([2, 2]), undefined);
  await c.TenantPost.query().patch({ tenantId: 2 }).where({ tenant_id: 1, id: 2 });
  t.is(await posts.get([1, 'world']), undefined, 'the old tuple');
  t.is((await posts.get([2, 'world']))?.title, 'One world', 'the new tuple, a cached miss before');
  t.is((await posts.getById([2, 2]))?.title, 'One world', 'the new id, a cached miss before');
  t.is(await posts.getById([1, 2]), undefined);
  await c.TenantPost.query().patch({ slug: 'globe' }).where({ tenant_id: 2, id: 2 });
  t.is(await posts.get([2, 'world']), undefined);
  t.is((await posts.get({ tenantId: 2, slug: 'globe' }))?.id, 2);
  t.is((await posts.getById([2, 2]))?.slug, 'globe');
});

// Transactions

class Rollback extends Error {}

forEachSetup(test, 'composite keys: Model.transaction() flushes at commit; inside, lookups read through the transaction', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  await c.warm({ keys: [[1, 'tx']] });
  await c.TenantPost.transaction(async (trx) => {
    await c.TenantPost.query(trx).patch({ slug: 'tx' }).where({ tenant_id: 1, id: 1 });
    await c.TenantPost.query(trx).patch({ tenantId: 2 }).where({ tenant_id: 1, id: 2 });
    t.is((await posts.get([1, 'tx'], trx))?.id, 1, 'the transaction sees its write');
    t.is((await posts.getById([2, 2], trx))?.slug, 'world');
    t.is((await posts.get([1, 'hello']))?.title, 'One hello', 'others read the committed row');
    t.is(await posts.get([1, 'tx']), undefined);
    t.is(await posts.get([2, 'world']), undefined);
  });
  await c.check('after commit:');
  t.is((await posts.get([1, 'tx']))?.title, 'One hello');
  t.is((await posts.get([2, 'world']))?.title, 'One world');
});

forEachSetup(test, 'composite keys: a rolled-back transaction leaves the cache right', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  await c.warm({ keys: [[1, 'tx']] });
  const outcome = c.TenantPost.transaction(async (trx) => {
    await c.TenantPost.query(trx).patch({ slug: 'tx' }).where({ tenant_id: 1, id: 1 });
    await c.TenantPost.query(trx).insert({ tenantId: 1, id: 3, slug: 'other', uuid: 'u-1-3' });
    t.is((await posts.get([1, 'other'], trx))?.id, 3);
    throw new Rollback();
  });
  await t.throwsAsync(outcome, { instanceOf: Rollback });
  await c.check('after rollback:');
  t.is((await posts.get([1, 'hello']))?.title, 'One hello');
  t.is(await posts.get([1, 'tx']), undefined);
  t.is(await posts.get([1, 'other']), undefined);
});

forEachSetup(test, 'composite keys: writes through transaction(Model, cb) and bindKnex(trx) flush at commit', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  await c.warm({
    keys: [
      [1, 'bound'],
      [3, 'hello'],
    ],
    ids: [[2, 9]],
  });
  await transaction(c.TenantPost, async (Bound) => {
    await Bound.query().patch({ slug: 'bound' }).where({ tenant_id: 1, id: 1 });
    t.is((await lookups(Bound).get([1, 'bound']))?.title, 'One hello', 'the bound class reads through its transaction');
    t.is(await posts.get([1, 'bound']), undefined, 'the class outside it does not see the write');
  });
  await c.check('after transaction(Model, cb):');
  await c.knex.transaction(async (trx) => {
    const Bound = c.TenantPost.bindKnex(trx);
    await Bound.query().patch({ tenantId: 3 }).where('tenant_id', 2);
    await Bound.query().insert({ tenantId: 2, id: 9, slug: 'hello', uuid: 'u-2-9', title: 'Two again' });
    t.is((await lookups(Bound).get([3, 'hello']))?.title, 'Two hello');
  });
  await c.check('after bindKnex(trx):');
  t.is((await posts.get([3, 'hello']))?.title, 'Two hello');
  t.is((await posts.getById([2, 9]))?.title, 'Two again');
});

// flush()

forEachSetup(test, 'composite keys: flush(row) flushes the composite entries of the row, and only those', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { posts } = c;
  const warmAll = async () => {
    await posts.get([1, 'hello']);
    await posts.getById([1, 1]);
    await posts.getBy('uuid', 'u-1-1');
    await posts.get([2, 'hello']);
    await posts.getById([2, 1]);
  };
  await warmAll();
  c.reset();
  await warmAll();
  t.is(c.queries.length, 0);
  await c.TenantPost.flush({ tenantId: 1, id: 1, slug: 'hello', uuid: 'u-1-1', title: 'One hello' });
  c.reset();
  t.is((await posts.get([1, 'hello']))?.title, 'One hello');
  t.is(c.selects().length, 1, 'the (tenantId, slug) entry');
  t.is((await posts.getById([1, 1]))?.title, 'One hello');
  t.is(c.selects().length, 2, 'the id entry');
  t.is((await posts.getBy('uuid', 'u-1-1'))?.title, 'One hello');
  t.is(c.selects().length, 3, 'the uuid entry');
  t.is((await posts.get([2, 'hello']))?.title, 'Two hello');
  t.is((await posts.getById([2, 1]))?.title, 'Two hello');
  t.is(c.selects().length, 3, "the other tenant's row with the same slug and id stays cached");

  await c.TenantPost.flush([{ tenantId: 2, slug: 'hello' }, (await c.TenantPost.query().findById([1, 1]))!]);
  c.reset();
  await posts.get([2, 'hello']);
  t.is(c.selects().length, 1, 'a row holding the columns of one key flushes that key');
  await posts.getById([2, 1]);
  t.is(c.selects().length, 1, 'and no other');
  await posts.get({ tenantId: 1, slug: 'hello' });
  t.is(c.selects().length, 2, 'a model instance flushes its keys');
});

// The refill race: a fill whose DB read began before a write's flush is never served after it.

forEachSetup(test, 'composite keys: a fill that read the DB before a flush is never served after it', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { Gated, holdNextQuery } = gated(c.TenantPost);
  const hold = holdNextQuery();
  const readerA = lookups(Gated).get([1, 'hello']);
  await hold.reached; // A has the old row in hand
  await c.TenantPost.query().patch({ title: 'new' }).where({ tenant_id: 1, id: 1 });
  hold.release();
  t.is((await readerA)?.title, 'One hello', 'A began before the write: the old row is a fair answer for A');
  c.reset();
  t.is((await c.posts.get([1, 'hello']))?.title, 'new', 'but it is not served');
  t.is((await c.posts.get({ tenantId: 1, slug: 'hello' }))?.title, 'new');
  t.is(c.selects().length, 1, 'the refill after the write is cached');
});

forEachSetup(test, 'composite keys: a cached miss filled before an insert of its tuple is never served after it', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { Gated, holdNextQuery } = gated(c.TenantPost);
  const hold = holdNextQuery();
  const readerA = lookups(Gated).get([1, 'fresh']);
  await hold.reached;
  await c.TenantPost.query().insert({ tenantId: 1, id: 7, slug: 'fresh', uuid: 'u-1-7', title: 'Fresh' });
  hold.release();
  t.is(await readerA, undefined);
  t.is((await c.posts.get([1, 'fresh']))?.title, 'Fresh');
  t.is((await c.posts.getById([1, 7]))?.title, 'Fresh');
});

forEachSetup(test, 'composite keys: a miss of the new tuple, read before a component changed, is never served after it', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  await c.posts.get([1, 'world']);
  const { Gated, holdNextQuery } = gated(c.TenantPost);
  const hold = holdNextQuery();
  const readerA = lookups(Gated).get([2, 'world']);
  await hold.reached;
  await c.TenantPost.query().patch({ tenantId: 2 }).where({ tenant_id: 1, id: 2 });
  hold.release();
  t.is(await readerA, undefined);
  t.is((await c.posts.get([2, 'world']))?.title, 'One world');
  t.is(await c.posts.get([1, 'world']), undefined);
});

forEachSetup(test, 'composite keys: a getMany fill that straddles a write is never served after it', async (t, kind, db) => {
  const c = await makeComposite(t, kind, db);
  const { Gated, holdNextQuery } = gated(c.TenantPost);
  const hold = holdNextQuery();
  const readerA = lookups(Gated).getMany([
    [1, 'hello'],
    [2, 'hello'],
    [2, 'other'],
  ]);
  await hold.reached;
  await c.TenantPost.query().patch({ title: 'changed' }).where('tenant_id', 2);
  hold.release();
  t.deepEqual(titles(await readerA), ['One hello', 'Two hello', 'Two other']);
  t.deepEqual(
    titles(
      await c.posts.getMany([
        [1, 'hello'],
        [2, 'hello'],
        [2, 'other'],
      ]),
    ),
    ['One hello', 'changed', 'changed'],
  );
  t.deepEqual(
    titles(
      await c.posts.getMany([
        [2, 'hello'],
        [2, 'other'],
      ]),
    ),
    ['changed', 'changed'],
  );
});
