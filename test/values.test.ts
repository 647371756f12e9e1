import test from 'ava';
import knexPkg from 'knex';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import { TEST_STORE_TIMEOUT } from './helpers/fixture.js';
import { forEachStore, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// What comes back from the cache equals what the DB read returns, through every store: Dates stay Dates,
// Buffers stay Buffers, bigints stay bigints, JSON columns keep their shape, and no JSON can reach a prototype.

async function things(t: import('ava').ExecutionContext, kind: StoreKind) {
  const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  t.teardown(() => knex.destroy());
  await knex.schema.createTable('things', (table) => {
    table.increments('id');
    table.string('slug').unique();
    table.text('at');
    table.integer('flag');
    table.text('nothing');
    table.text('doc');
    table.text('big');
    table.binary('blob');
    table.float('ratio');
  });
  const store = await makeStore(t, kind);
  class Thing extends CachedModel(Model, { store, timeout: TEST_STORE_TIMEOUT }) {
    static override tableName = 'things';
    static override cacheKeys = ['slug'];
    static override jsonAttributes = ['doc'];
    declare id: number;
    declare at: Date;
    declare flag: boolean;
    declare nothing: null;
    declare doc: unknown;
    declare big: bigint;
    declare blob: Buffer;
    declare ratio: number;
    override $parseDatabaseJson(json: Record<string, unknown>) {
      const row = super.$parseDatabaseJson(json);
      // SQL-style text only: a Date that came back from a store as an ISO string would stay a string here.
      if (typeof row.at === 'string' && /^\d{4}-\d\d-\d\d \d/.test(row.at)) row.at = new Date(`${row.at.replace(' ', 'T')}Z`);
      if (typeof row.flag === 'number') row.flag = row.flag === 1;
      if (typeof row.big === 'string') row.big = BigInt(row.big);
      return row;
    }
    override $formatDatabaseJson(json: Record<string, unknown>) {
      const row = super.$formatDatabaseJson(json);
      if (row.at instanceof Date) row.at = row.at.toISOString().replace('T', ' ').replace('Z', '');
      if (typeof row.flag === 'boolean') row.flag = row.flag ? 1 : 0;
      if (typeof row.big === 'bigint') row.big = row.big.toString();
      return row;
    }
  }
  Thing.knex(knex);
  return { knex, Thing };
}

forEachStore(test, 'Date, boolean, null, JSON, bigint, Buffer and float columns come back as the DB gave them', async (t, kind) => {
  const { knex, Thing } = await things(t, kind);
  const doc = {
    text: 'ünï 🚀',
    list: [1, 2.5, null, true, { deep: ['x'] }],
    empty: {},
    '~d': 'looks like a tag',
    '~o': { a: 1 },
    date: '2024-01-01T00:00:00.000Z',
  };
  await knex('things').insert({
    slug: 'all',
    at: '2024-02-29 12:34:56.789',
    flag: 1,
    nothing: null,
    doc: JSON.stringify(doc),
    big: '9007199254740993123',
    blob: Buffer.from([0, 1, 2, 254, 255]),
    ratio: 0.1 + 0.2,
  });
  const direct = (await Thing.query().findOne({ slug: 'all' }))!;
  await Thing.get('all');
  const cached = (await Thing.get('all'))!;
  t.deepEqual(cached.$toJson(), direct.$toJson());
  t.true(cached.at instanceof Date);
  t.is(cached.at.toISOString(), '2024-02-29T12:34:56.789Z');
  t.is(cached.flag, true);
  t.is(cached.nothing, null);
  t.is(cached.big, 9007199254740993123n);
  t.true(Buffer.isBuffer(cached.blob));
  t.deepEqual([...cached.blob], [0, 1, 2, 254, 255]);
  t.is(cached.ratio, 0.1 + 0.2);
  t.deepEqual(cached.doc, doc);

  // A model that parses columns into Date, boolean and bigint without formatting them back hands the cache
  // those objects themselves: the cache's own encoding must carry them through the store.
  class Typed extends Thing {
    static override cacheVersion = 'typed'; // entries of its own, not Thing's
    override $formatDatabaseJson(json: Record<string, unknown>) {
      return Model.prototype.$formatDatabaseJson.call(this, json) as Record<string, unknown>;
    }
  }
  await Typed.get('all');
  const typed = (await Typed.get('all'))!;
  t.deepEqual(typed.$toJson(), direct.$toJson());
  t.true(typed.at instanceof Date);
  t.is(typeof typed.big, 'bigint');
});

forEachStore(test, '__proto__ in a JSON column cannot pollute any prototype, and reads back as the DB gave it', async (t, kind) => {
  const { knex, Thing } = await things(t, kind);
  await knex('things').insert({ slug: 'evil', doc: '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "a": 1}' });
  const direct = (await Thing.query().findOne({ slug: 'evil' }))!;
  await Thing.get('evil');
  const cached = (await Thing.get('evil'))!;
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.is(Object.getPrototypeOf(cached.doc), Object.prototype);
  t.is((cached.doc as Record<string, unknown>).polluted, undefined);
  t.true(Object.prototype.hasOwnProperty.call(cached.doc, '__proto__'));
  t.deepEqual(cached.$toJson(), direct.$toJson());
  t.is((cached as unknown as Record<string, unknown>).polluted, undefined);
});
