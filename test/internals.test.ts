import KeyvRedis, { createKeyv } from '@keyv/redis';
import test from 'ava';
import knex, { type Knex } from 'knex';
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';
import Keyv from 'keyv';
import { EventEmitter } from 'node:events';
import { Model, QueryBuilder, raw, snakeCaseMappers, type Page, type Relation, type StaticHookArguments } from 'objection';

import {
  OVERRIDDEN_BUILDER_METHODS,
  OVERRIDDEN_MODEL_STATICS,
  clientOf,
  dialectOf,
  hasOperation,
  hookBuilderOf,
  inherited,
  findsPlainly,
  plainRowReading,
  setsDatabaseJsonPlainly,
  isKnexRaw,
  isModelClass,
  joinTableModelClassOf,
  keyvRedisOf,
  keyvMapOf,
  toKeyvEnvelope,
  fromKeyvEnvelope,
  clientSideCacheBase,
  clientSideCacheOf,
  knexBuilderState,
  operationArgs,
  outermostTransaction,
  queryPropsOf,
  sqlOf,
  tableNameOf,
  wrapClientQuery,
  wrapTransactionQuery,
  type ClientQuery,
  type KeyvMapEntry,
  type KnexClient,
  type KnexTransaction,
} from '../src/core/internals.js';
import { rowModel } from '../src/model/row-model.js';

/**
 * Every reach into knex, Objection and Keyv internals (src/core/internals.ts), run against the installed versions:
 * an upgrade that removes or changes one fails here, by name. Nothing here opens a network connection: knex runs
 * on in-memory SQLite, the pg client only builds SQL, and the Redis adapters never connect.
 */

const SQLITE = { client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true } as const;

/** A fresh in-memory database per test: transactions hold its one connection. */
const opened: Knex[] = [];
function sqlite(): Knex {
  const db = knex({ ...SQLITE });
  opened.push(db);
  return db;
}
const pg = knex({ client: 'pg' });
test.after.always(async () => {
  await Promise.all([...opened.map((db) => db.destroy()), pg.destroy()]);
});

/* ----------------------------------------------------------------------------------------------- knex */

test('knex: clientOf(knex).config holds the config given to knex()', (t) => {
  const db = sqlite();
  const client = clientOf(db);
  t.truthy(client, 'knex instances no longer have a `client` object');
  t.is(client?.config?.client, 'better-sqlite3', 'knex no longer keeps its config as client.config');
  t.deepEqual(client?.config?.connection, { filename: ':memory:' }, 'client.config.connection is not the connection given');
  t.regex(String(client?.dialect), /sqlite/, 'client.dialect no longer names the dialect');
  t.is(client?.driverName, 'better-sqlite3', 'client.driverName no longer names the driver');
  t.falsy(client?.transacting, 'a knex instance client says it is transacting');
  t.is(clientOf(undefined), undefined);
  t.is(clientOf({}), undefined);
  t.is(clientOf({ client: 'pg' }), undefined);
});

test('knex: a transaction client shares the config object of its knex, and says it is transacting', async (t) => {
  const db = sqlite();
  const config = clientOf(db)?.config;
  await db.transaction(async (trx) => {
    t.is(clientOf(trx)?.config, config, 'a transaction client no longer shares client.config (lib/execution/transaction.js makeTxClient)');
    t.true(clientOf(trx)?.transacting, 'a transaction client no longer has transacting = true');
  });
});

test('knex: withUserParams copies the config (same settings, another object), as clientOf says', (t) => {
  // invalidation/raw-writes.ts finds the caches of such a copy by the database its settings select, not by the
  // config object: should knex ever share the object again, that still holds.
  const db = sqlite();
  const copy = clientOf(db.withUserParams({ tenant: 'a' }))?.config;
  t.not(copy, clientOf(db)?.config);
  t.deepEqual(copy?.connection, clientOf(db)?.config?.connection);
});

test('knex: dialectOf names the dialect of a knex and of its transactions', async (t) => {
  const db = sqlite();
  t.regex(dialectOf(db), /sqlite/);
  t.is(dialectOf(pg), 'postgresql', 'the pg client no longer says dialect = "postgresql"');
  t.is(dialectOf(undefined), '');
  await db.transaction(async (trx) => {
    t.is(dialectOf(trx), dialectOf(db));
  });
});

test('knex: wrapClientQuery wraps the nearest prototype with its own query, once per class', async (t) => {
  class BaseClient {
    query(_connection: unknown, sqlObject: unknown): Promise<unknown> {
      return Promise.resolve(`ran ${sqlOf(sqlObject)}`);
    }
  }
  class SubClient extends BaseClient {}
  const seen: string[] = [];
  const wrap = (original: ClientQuery): ClientQuery =>
    function (this: unknown, connection: unknown, sqlObject: unknown) {
      seen.push(sqlOf(sqlObject));
      return original.call(this as never, connection, sqlObject);
    };
  const client = new SubClient();
  t.true(wrapClientQuery(client as KnexClient, wrap));
  t.true(Object.prototype.hasOwnProperty.call(BaseClient.prototype, 'query'));
  t.false(Object.prototype.hasOwnProperty.call(SubClient.prototype, 'query'));
  t.true(wrapClientQuery(new BaseClient() as KnexClient, wrap), 'a class wrapped already answers true');
  t.is(await client.query(null, { sql: 'select 1' }), 'ran select 1');
  t.deepEqual(seen, ['select 1'], 'wrapped once, not twice');
  t.false(wrapClientQuery({}, wrap));
  t.false(wrapClientQuery(undefined, wrap));
  t.false(wrapClientQuery(Object.create({ query: 1 }) as object, wrap), 'a query that is no function');
});

test('knex: every statement and COMMIT of a knex and its transactions runs through its client class query', async (t) => {
  // The real client class is not wrapped here (that would be global): a subclass with its own query stands in.
  const base = Object.getPrototypeOf(clientOf(sqlite())) as {
    constructor: new (config: Knex.Config) => { query(connection: unknown, sqlObject: unknown): Promise<unknown> };
  };
  let proto: object | null = base;
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'query')) proto = Object.getPrototypeOf(proto) as object | null;
  t.is(typeof (proto as { query?: unknown } | null)?.query, 'function', 'no prototype of the knex client has its own query method (lib/client.js)');

  class Own extends base.constructor {
    override query(connection: unknown, sqlObject: unknown): Promise<unknown> {
      return super.query(connection, sqlObject);
    }
  }
  const db = knex({ ...SQLITE, client: Own as unknown as typeof Knex.Client });
  opened.push(db);
  const seen: string[] = [];
  t.true(
    wrapClientQuery(
      clientOf(db),
      (original) =>
        function (this: unknown, connection: unknown, sqlObject: unknown) {
          seen.push(sqlOf(sqlObject));
          return original.call(this as never, connection, sqlObject);
        },
    ),
  );
  await db.schema.createTable('t', (table) => table.integer('a'));
  await db('t').insert({ a: 1 });
  await db.transaction(async (trx) => {
    await trx('t').update({ a: 2 });
  });
  t.true(
    seen.some((sql) => /^insert into `t`/.test(sql)),
    `statements of the knex: ${JSON.stringify(seen)}`,
  );
  t.true(
    seen.some((sql) => /^update `t`/.test(sql)),
    `statements of a transaction: ${JSON.stringify(seen)}`,
  );
  t.true(
    seen.some((sql) => /^\s*COMMIT\b/i.test(sql)),
    `the COMMIT: ${JSON.stringify(seen)}`,
  );
});

test('knex: outermostTransaction is the transaction, or the parent of its savepoints', async (t) => {
  const db = sqlite();
  t.is(outermostTransaction(db), undefined);
  t.is(outermostTransaction(undefined), undefined);
  await db.transaction(async (trx) => {
    t.is(outermostTransaction(trx), trx as unknown as KnexTransaction, 'a transaction no longer says isTransaction');
    t.true((trx as unknown as KnexTransaction).executionPromise instanceof Promise, 'a transaction has no executionPromise');
    await trx.transaction(async (savepoint) => {
      t.true(savepoint.isTransaction);
      t.is((savepoint as unknown as KnexTransaction).parentTransaction, trx as unknown as KnexTransaction, 'a savepoint no longer has parentTransaction');
      t.is(outermostTransaction(savepoint), trx as unknown as KnexTransaction);
      await savepoint.transaction(async (deeper) => {
        t.is(outermostTransaction(deeper), trx as unknown as KnexTransaction);
      });
    });
  });
});

test('knex: wrapTransactionQuery wraps the own query of a transaction client, which COMMIT and ROLLBACK run through', async (t) => {
  const db = sqlite();
  await db.schema.createTable('t', (table) => table.integer('a'));
  const record = (seen: string[]) => (original: (...args: unknown[]) => Promise<unknown>) =>
    function (this: unknown, ...args: unknown[]): Promise<unknown> {
      seen.push(sqlOf(args[1]));
      return original.apply(this, args);
    };

  const committed: string[] = [];
  await db.transaction(async (trx) => {
    t.true(Object.prototype.hasOwnProperty.call(clientOf(trx), 'query'), 'a transaction client has no own query (makeTxClient)');
    t.true(wrapTransactionQuery(trx as unknown as KnexTransaction, record(committed)));
    await trx('t').insert({ a: 1 });
  });
  t.regex(committed[0] ?? '', /^insert into `t`/);
  t.regex(committed.at(-1) ?? '', /^\s*COMMIT\b/i, `COMMIT no longer runs through the transaction client query: ${JSON.stringify(committed)}`);

  const rolledBack: string[] = [];
  await t.throwsAsync(
    db.transaction(async (trx) => {
      wrapTransactionQuery(trx as unknown as KnexTransaction, record(rolledBack));
      await trx('t').insert({ a: 2 });
      throw new Error('undo');
    }),
    { message: 'undo' },
  );
  t.regex(rolledBack.at(-1) ?? '', /^\s*ROLLBACK\b/i, `ROLLBACK no longer runs through the transaction client query: ${JSON.stringify(rolledBack)}`);

  t.false(wrapTransactionQuery(db as unknown as KnexTransaction, record([])), 'a knex instance client has no own query');
  t.false(wrapTransactionQuery({}, record([])));
});

test('knex: sqlOf reads the SQL of a string or a { sql } object', (t) => {
  t.is(sqlOf('COMMIT;'), 'COMMIT;');
  t.is(sqlOf({ sql: 'select 1', bindings: [] }), 'select 1');
  t.is(sqlOf({ sql: 1 }), '');
  t.is(sqlOf({}), '');
  t.is(sqlOf(null), '');
  t.is(sqlOf(undefined), '');
  t.is(sqlOf(42), '');
  t.is(sqlOf(sqlite()('posts').where('id', 1).toSQL()), 'select * from `posts` where `id` = ?', 'toSQL() no longer has sql');
});

test('knex: knexBuilderState reads _method, _single and _statements', (t) => {
  const db = sqlite();
  const state = knexBuilderState(db('posts').join('users', 'users.id', 'posts.author_id').where('posts.id', 1));
  t.truthy(state, 'a knex builder no longer has _single and _statements');
  t.is(state?._method, 'select');
  t.is(state?._single['table'], 'posts', '_single.table is not the table');
  const where = state?._statements.find((statement) => statement.grouping === 'where');
  t.like(where, { type: 'whereBasic', column: 'posts.id', operator: '=', value: 1, not: false }, 'where statements changed shape');
  const join = state?._statements.find((statement) => statement.joinType !== undefined);
  t.like(join, { joinType: 'inner', table: 'users' }, 'join statements changed shape');
  t.like(knexBuilderState(db('posts').whereIn('id', [1, 2]))?._statements[0], { grouping: 'where', type: 'whereIn', value: [1, 2] });
  t.like(knexBuilderState(db('posts').whereNot('id', 1))?._statements[0], { not: true });
  t.like(
    knexBuilderState(db.with('recent', db('posts')).from('recent'))?._statements[0],
    { grouping: 'with', alias: 'recent' },
    'with statements changed shape',
  );
  t.is(typeof state?.client.queryBuilder, 'function', 'the builder client has no queryBuilder()');
  t.truthy(knexBuilderState(state?.client.queryBuilder()), 'client.queryBuilder() makes no builder');
  t.is(knexBuilderState(db('posts').insert({ a: 1 }))?._method, 'insert');
  t.is(knexBuilderState(undefined), undefined);
  t.is(knexBuilderState({}), undefined);
  t.is(knexBuilderState(db.raw('select 1')), undefined);
});

test('knex: a pg builder says dialect postgresql and keeps returning() in _single', (t) => {
  const plain = knexBuilderState(pg('posts').where('id', 1).update({ title: 'x' }));
  t.is(plain?.client.dialect, 'postgresql', 'a pg builder client no longer says dialect = "postgresql"');
  t.is(plain?._single['returning'], undefined);
  const returning = knexBuilderState(pg('posts').where('id', 1).update({ title: 'x' }).returning('id'));
  t.truthy(returning?._single['returning'], '_single.returning is not set by returning()');
  t.is(pg('posts').where('id', 1).update({ title: 'x' }).returning('id').toString(), `update "posts" set "title" = 'x' where "id" = 1 returning "id"`);
});

test('knex: isKnexRaw tells a knex.raw() value', (t) => {
  const db = sqlite();
  const value = db.raw('select ?', [1]);
  t.true(isKnexRaw(value), 'knex.raw() is no longer an instance of a class named Raw with sql');
  t.is(isKnexRaw(value) ? value.sql : undefined, 'select ?');
  t.deepEqual(isKnexRaw(value) ? value.bindings : undefined, [1]);
  t.true(isKnexRaw(pg.raw('??', ['posts.id'])));
  t.false(isKnexRaw(db('posts')));
  t.false(isKnexRaw({ sql: 'select 1' }));
  t.false(isKnexRaw(Object.create(null) as object));
  t.false(isKnexRaw(raw('x')), 'an Objection raw() is not a knex Raw before Objection converts it');
});

/* ------------------------------------------------------------------------------------------ Objection */

class Item extends Model {
  static override tableName = 'items';
  id!: number;
  a?: string;
  n?: number;
}

async function itemsDb(): Promise<Knex> {
  const db = sqlite();
  await db.schema.createTable('items', (table) => {
    table.increments('id');
    table.string('a').unique();
    table.integer('n');
  });
  return db;
}

test('objection: tableNameOf and isModelClass', (t) => {
  class Getter extends Model {
    static override get tableName(): string {
      return 'getter_table';
    }
  }
  class Inheriting extends Getter {}
  t.is(tableNameOf(Item), 'items', 'Model.getTableName() vanished');
  t.is(tableNameOf(Inheriting), 'getter_table');
  t.true(isModelClass(Item));
  t.true(isModelClass(Model));
  t.false(isModelClass(class {}));
  t.false(isModelClass({ getTableName: () => 'x' }));
  t.false(isModelClass(undefined));
});

test('objection: hookBuilderOf finds the builder in static hook arguments, the same in before and after hooks', async (t) => {
  const db = await itemsDb();
  const seen: { hook: string; builder: object }[] = [];
  class Hooked extends Item {
    static override beforeInsert(args: StaticHookArguments<Hooked>): void {
      seen.push({ hook: 'before', builder: hookBuilderOf(args) });
    }
    static override afterInsert(args: StaticHookArguments<Hooked>): void {
      seen.push({ hook: 'after', builder: hookBuilderOf(args) });
    }
  }
  await Hooked.query(db).insert({ a: 'x', n: 1 });
  t.deepEqual(
    seen.map((entry) => entry.hook),
    ['before', 'after'],
  );
  // (not `instanceof QueryBuilder`: Objection's export wraps its native class, and the builder a query executes
  // on is a native one)
  const builder = seen[0]!.builder as QueryBuilder<Hooked>;
  t.is(
    typeof (builder as unknown as { findOperation?: unknown }).findOperation,
    'function',
    'the symbol of StaticHookArguments no longer holds the query builder',
  );
  t.is(typeof builder.isInsert, 'function');
  t.true(builder.isInsert());
  t.is(builder.modelClass(), Hooked);
  t.is(seen[1]!.builder, builder, 'before and after hooks no longer share one builder');
  t.throws(() => hookBuilderOf({}), { message: /carry no query builder/ });
});

test('objection: queryPropsOf holds the raw() values of a patch, seen from beforeUpdate', async (t) => {
  const db = await itemsDb();
  await Item.query(db).insert({ a: 'x', n: 1 });
  const props: Record<string, unknown>[] = [];
  class Patched extends Item {
    static override beforeUpdate(args: StaticHookArguments<Patched>): void {
      props.push(queryPropsOf(args.inputItems[0]!));
    }
  }
  await Patched.query(db)
    .patch({ n: raw('n + 1') })
    .where('id', 1);
  await Patched.query(db).patch({ a: 'y' }).where('id', 1);
  t.is(props.length, 2);
  t.deepEqual(Object.keys(props[0]!), ['n'], 'a raw() patch value is no longer kept in $$queryProps');
  t.truthy(props[0]!['n']);
  t.deepEqual(props[1], {});
  t.deepEqual(queryPropsOf({}), {});
  t.deepEqual((await Item.query(db).findById(1))?.n, 2);
});

test('objection: operationArgs reads the arguments of onConflict()', async (t) => {
  const db = await itemsDb();
  const upsert = Item.query(db).insert({ a: 'x', n: 1 }).onConflict(['a']).merge();
  t.deepEqual(operationArgs(upsert, 'onConflict'), [['a']], 'findOperation("onConflict") no longer gives its args');
  t.deepEqual(operationArgs(Item.query(db).insert({ a: 'y' }).onConflict('a').ignore(), 'onConflict'), ['a']);
  t.is(operationArgs(Item.query(db).insert({ a: 'z' }), 'onConflict'), undefined);
  await upsert;
  t.is((await Item.query(db).where('a', 'x')).length, 1);
});

/** Models whose query builders and relation lookups record the overridden methods, fresh for each test. */
function recordingModels(): { Person: typeof Model; Pet: typeof Model; calls: string[] } {
  const calls: string[] = [];
  class RecordingBuilder<M extends Model, R = M[]> extends QueryBuilder<M, R> {
    declare ArrayQueryBuilderType: RecordingBuilder<M, M[]>;
    declare SingleQueryBuilderType: RecordingBuilder<M, M>;
    declare MaybeSingleQueryBuilderType: RecordingBuilder<M, M | undefined>;
    declare NumberQueryBuilderType: RecordingBuilder<M, number>;
    declare PageQueryBuilderType: RecordingBuilder<M, Page<M>>;
  }
  for (const name of OVERRIDDEN_BUILDER_METHODS) {
    const original = Reflect.get(QueryBuilder.prototype, name) as unknown;
    if (typeof original !== 'function') continue;
    Object.defineProperty(RecordingBuilder.prototype, name, {
      configurable: true,
      writable: true,
      value(this: QueryBuilder<Model>, ...args: unknown[]): unknown {
        calls.push(`${name}:${this.modelClass().name}`);
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      },
    });
  }
  class Base extends Model {
    static override get QueryBuilder(): typeof QueryBuilder {
      return RecordingBuilder as unknown as typeof QueryBuilder;
    }
    static getRelationUnsafe(name: string): Relation | null {
      calls.push(`getRelationUnsafe:${name}`);
      return inherited<(this: unknown, name: string) => Relation | null>(Model, 'getRelationUnsafe').call(this, name);
    }
  }
  class Movie extends Base {
    static override tableName = 'movies';
  }
  class Pet extends Base {
    static override tableName = 'pets';
  }
  class Person extends Base {
    static override tableName = 'persons';
    static override relationMappings = () => ({
      pets: { relation: Model.HasManyRelation, modelClass: Pet, join: { from: 'persons.id', to: 'pets.ownerId' } },
      movies: {
        relation: Model.ManyToManyRelation,
        modelClass: Movie,
        join: { from: 'persons.id', through: { from: 'persons_movies.personId', to: 'persons_movies.movieId' }, to: 'movies.id' },
      },
    });
  }
  return { Person, Pet, calls };
}

async function peopleDb(): Promise<Knex> {
  const db = sqlite();
  await db.schema.createTable('persons', (table) => table.increments('id'));
  await db.schema.createTable('pets', (table) => {
    table.increments('id');
    table.integer('ownerId');
  });
  await db.schema.createTable('movies', (table) => table.increments('id'));
  await db.schema.createTable('persons_movies', (table) => {
    table.integer('personId');
    table.integer('movieId');
  });
  await db('persons').insert({ id: 1 });
  await db('pets').insert({ id: 1, ownerId: 1 });
  return db;
}

test('objection: hasOperation sees operations by name and relation', async (t) => {
  const db = await peopleDb();
  const { Person } = recordingModels();
  const upsert = Item.query(db).insert({ a: 'x' }).onConflict('a').merge();
  t.true(
    hasOperation(upsert, (operation) => operation.name === 'merge'),
    'has(predicate) no longer sees operations by name',
  );
  t.false(hasOperation(upsert, (operation) => operation.name === 'delete'));

  const person = await Person.query(db).findById(1);
  const relationFind: boolean[] = [];
  const isRelationFind = (operation: { name?: string; relation?: unknown }): boolean =>
    operation.name === 'find' && operation.relation !== undefined && operation.relation !== null;
  const pets = await person!
    .$relatedQuery('pets', db)
    .onBuildKnex((_knex: unknown, builder: QueryBuilder<Model>) => void relationFind.push(hasOperation(builder, isRelationFind)));
  await Person.query(db).onBuildKnex((_knex: unknown, builder: QueryBuilder<Model>) => void relationFind.push(hasOperation(builder, isRelationFind)));
  t.is(pets.length, 1);
  t.deepEqual(relationFind, [true, false], 'a $relatedQuery no longer has a "find" operation carrying its relation');
});

test('objection: joinTableModelClassOf gives the join table model of a many-to-many relation', (t) => {
  const { Person } = recordingModels();
  const join = joinTableModelClassOf<typeof Model>(Person.getRelation('movies'));
  t.is(typeof join, 'function', 'ManyToManyRelation no longer has joinTableModelClass');
  t.is(join && tableNameOf(join), 'persons_movies');
  t.is(joinTableModelClassOf<typeof Model>(Person.getRelation('pets')), undefined);
});

test('objection: OVERRIDDEN_BUILDER_METHODS exist on QueryBuilder.prototype and run for relations and subqueries', async (t) => {
  for (const name of OVERRIDDEN_BUILDER_METHODS) {
    t.is(typeof Reflect.get(QueryBuilder.prototype, name), 'function', `Objection QueryBuilder.prototype.${name} vanished`);
  }
  t.deepEqual([...OVERRIDDEN_BUILDER_METHODS].sort(), ['childQueryOf', 'subqueryOf']);
  const db = await peopleDb();
  const { Person, Pet, calls } = recordingModels();
  const people = await Person.query(db).withGraphFetched('pets');
  t.is((people[0] as unknown as { pets: unknown[] }).pets.length, 1);
  t.true(calls.includes('childQueryOf:Pet'), `withGraphFetched no longer builds the relation query through childQueryOf: ${JSON.stringify(calls)}`);
  const owners = await Person.query(db).whereIn('id', Pet.query(db).select('ownerId'));
  t.is(owners.length, 1);
  t.true(calls.includes('subqueryOf:Pet'), `a subquery is no longer set up through subqueryOf: ${JSON.stringify(calls)}`);
});

test('objection: OVERRIDDEN_MODEL_STATICS exist on Model, and relations resolve through them', async (t) => {
  for (const name of OVERRIDDEN_MODEL_STATICS) {
    t.is(typeof Reflect.get(Model, name), 'function', `Objection Model.${name} vanished`);
  }
  t.deepEqual([...OVERRIDDEN_MODEL_STATICS], ['getRelationUnsafe']);
  const db = await peopleDb();
  const { Person, calls } = recordingModels();
  t.truthy(Person.getRelation('movies'));
  t.true(calls.includes('getRelationUnsafe:movies'), 'getRelation() no longer resolves through getRelationUnsafe');
  calls.length = 0;
  await Person.query(db).withGraphFetched('pets');
  t.true(calls.includes('getRelationUnsafe:pets'), `withGraphFetched no longer resolves through getRelationUnsafe: ${JSON.stringify(calls)}`);
  calls.length = 0;
  await Person.relatedQuery('pets', db).for(1);
  t.true(calls.includes('getRelationUnsafe:pets'), `relatedQuery no longer resolves through getRelationUnsafe: ${JSON.stringify(calls)}`);
  t.is(Person.getRelations()['pets'] !== undefined, true);
});

test('objection: inherited finds the implementation a prototype or class inherits', (t) => {
  class Sub extends Model {}
  const subBuilder = class extends QueryBuilder<Model> {};
  for (const name of OVERRIDDEN_BUILDER_METHODS) {
    t.is(inherited(subBuilder.prototype, name), Reflect.get(QueryBuilder.prototype, name));
  }
  for (const name of OVERRIDDEN_MODEL_STATICS) {
    t.is(inherited(Sub, name), Reflect.get(Model, name));
  }
  t.throws(() => inherited(Sub, 'noSuchStatic'), { message: /Objection has no noSuchStatic/ });
  t.throws(() => inherited({ tableName: 'posts' }, 'tableName'), { message: /no tableName/ }, 'a non-function is not a method');
});

test('objection: findsPlainly is true for a plain query() only, before and after it is built', async (t) => {
  const db = sqlite();
  await db.schema.createTable('owners', (table) => table.increments('id'));
  await db.schema.createTable('pets', (table) => {
    table.increments('id');
    table.integer('ownerId');
  });
  class Pet extends Model {
    static override tableName = 'pets';
  }
  class Owner extends Model {
    static override tableName = 'owners';
    static override get relationMappings() {
      return { pets: { relation: Model.HasManyRelation, modelClass: Pet, join: { from: 'owners.id', to: 'pets.ownerId' } } };
    }
  }
  const owner = Owner.fromJson({ id: 1 });
  t.true(findsPlainly(Pet.query(db)));
  t.true(findsPlainly(Pet.query(db).where('id', 1).clone()), 'a clone keeps it');
  t.false(findsPlainly(owner.$relatedQuery('pets', db)), '$relatedQuery');
  t.false(findsPlainly(Owner.relatedQuery('pets', db).for(1)), 'relatedQuery');
  t.false(findsPlainly(owner.$query(db)), '$query');
  // the relation's find operation is made only as the query is built: findsPlainly sees it coming
  const related = owner.$relatedQuery('pets', db);
  t.false(
    hasOperation(related, (op) => op.name === 'find'),
    'no find operation before the build',
  );
  await related;
});

test('objection: plainRowReading holds exactly where fromDatabaseJson is Object.assign(new modelClass(), json), after the mappers', (t) => {
  const row = () => ({ id: 7, post_slug: 'hello', title: 'Hi', meta: '{"a":1}', tags: '[1,2]', createdAt: new Date(0), views: null });
  // plain: Objection's own methods and no JSON attributes; a class field and a setter take part as in Objection
  class Plain extends Model {
    static override tableName = 'posts';
  }
  class WithFieldsAndSetter extends Model {
    static override tableName = 'posts';
    seen = 'field';
    shown?: string;
    set title(value: string) {
      this.shown = `<${value}>`;
    }
  }
  class Sub extends Plain {}
  class Mapped extends Model {
    static override tableName = 'posts';
    static override columnNameMappers = snakeCaseMappers();
  }
  // not plain: each changes what fromDatabaseJson does beyond assigning the columns
  class JsonAttributes extends Model {
    static override tableName = 'posts';
    static override jsonAttributes = ['meta'];
  }
  class JsonFromSchema extends Model {
    static override tableName = 'posts';
    static override jsonSchema = { type: 'object', properties: { tags: { type: 'array' } } };
  }
  class OwnParse extends Model {
    static override tableName = 'posts';
    override $parseDatabaseJson(json: Record<string, unknown>): Record<string, unknown> {
      return { ...super.$parseDatabaseJson(json), parsed: true };
    }
  }
  class OwnSet extends Model {
    static override tableName = 'posts';
    override $setDatabaseJson(json: object): this {
      return super.$setDatabaseJson({ ...json, set: true });
    }
  }
  class OwnParseField extends Model {
    static override tableName = 'posts';
    // a class field: an own property of each instance, in front of the prototype's
    override $parseDatabaseJson = (json: Record<string, unknown>): Record<string, unknown> => ({ ...json, field: true });
  }
  class OwnFrom extends Model {
    static override tableName = 'posts';
    static override fromDatabaseJson<M extends Model>(this: new () => M, json: object): M {
      return Object.assign(new this(), json, { from: true });
    }
  }
  const plain = [Plain, WithFieldsAndSetter, Sub, Mapped];
  // the class reads its rows plainly, but its instances (the prototype, or a class field) may not
  const ownInstances = [OwnParse, OwnSet, OwnParseField];
  const other = [JsonAttributes, JsonFromSchema, OwnFrom];
  for (const modelClass of [...plain, ...ownInstances]) t.not(plainRowReading(modelClass), undefined, modelClass.name);
  for (const modelClass of other) t.is(plainRowReading(modelClass), undefined, modelClass.name);
  for (const modelClass of plain) t.true(setsDatabaseJsonPlainly(new modelClass()), modelClass.name);
  for (const modelClass of ownInstances) t.false(setsDatabaseJsonPlainly(new modelClass()), modelClass.name);
  t.is(plainRowReading(Plain)!.mappers, undefined);
  t.is(plainRowReading(Mapped)!.mappers, Mapped.columnNameMappers, 'the mappers Objection keeps for the class');
  // the same instance either way: prototype, own keys in order, values (Dates a copy of their own)
  for (const modelClass of [...plain, ...ownInstances, ...other]) {
    const made = rowModel(modelClass, row());
    const objection = modelClass.fromDatabaseJson(row());
    t.is(Object.getPrototypeOf(made), modelClass.prototype, modelClass.name);
    t.deepEqual(Object.keys(made), Object.keys(objection), modelClass.name);
    // (a class field holding a function is a new function per instance: compared by kind)
    const values = (model: object) => Object.entries(model).map(([key, value]) => [key, typeof value === 'function' ? 'function' : value]);
    t.deepEqual(values(made), values(objection), modelClass.name);
  }
  t.is((rowModel(WithFieldsAndSetter, row()) as WithFieldsAndSetter).shown, '<Hi>', 'the setter ran');
  // a plugin that overrides a method after the class was first used is honoured from then on
  class Late extends Model {
    static override tableName = 'posts';
  }
  t.true(setsDatabaseJsonPlainly(new Late()));
  Late.prototype.$parseDatabaseJson = function (json) {
    return { ...json, late: true };
  };
  t.false(setsDatabaseJsonPlainly(new Late()));
  t.true((rowModel(Late, row()) as unknown as { late: boolean }).late);
});

/* ----------------------------------------------------------------------------------------------- Keyv */

/** A stand-in node-redis client: records the keys it is asked to delete. It never opens a socket. */
class RecordingRedisClient extends EventEmitter {
  readonly isOpen = true;
  readonly deleted: string[] = [];
  connect(): Promise<this> {
    return Promise.resolve(this);
  }
  unlink(key: string | string[]): Promise<number> {
    const keys = Array.isArray(key) ? key : [key];
    this.deleted.push(...keys);
    return Promise.resolve(keys.length);
  }
  del(key: string | string[]): Promise<number> {
    return this.unlink(key);
  }
  multi(): { unlink(key: string): void; del(key: string): void; exec(): Promise<number[]> } {
    const queued: string[] = [];
    return {
      unlink: (key) => void queued.push(key),
      del: (key) => void queued.push(key),
      exec: async () => queued.map((key) => (this.deleted.push(key), 1)),
    };
  }
}

type RedisConnect = ConstructorParameters<typeof KeyvRedis>[0];
type CreateKeyvConnect = Parameters<typeof createKeyv>[0];

test('keyv: keyvRedisOf is undefined for any store but @keyv/redis', (t) => {
  t.is(keyvRedisOf(new Keyv()), undefined);
  t.is(keyvRedisOf(new Keyv({ store: new Map() })), undefined);
  t.is(keyvRedisOf({}), undefined);
});

test('keyv: keyvRedisOf of a Keyv over @keyv/redis, without connecting', (t) => {
  const adapter = new KeyvRedis('redis://127.0.0.1:1');
  const keyv = new Keyv({ store: adapter });
  const redis = keyvRedisOf(keyv);
  t.truthy(redis, 'Keyv lost _getKeyPrefixArray, or @keyv/redis lost getClient/createKeyPrefix');
  t.is(redis?.adapter as unknown, adapter);
  t.is(redis?.adapter.namespace, 'keyv', 'Keyv no longer hands its namespace to the adapter');
  t.deepEqual(redis?.storedKeys(['a']), ['keyv::keyv:a']);
  t.false((adapter.client as { isOpen: boolean }).isOpen, 'storedKeys must not connect');
});

test('keyv: storedKeys are the keys Keyv delete and deleteMany send to Redis, and announce preDelete as Keyv does', async (t) => {
  const adapter = (client: RecordingRedisClient): RedisConnect => client as unknown as RedisConnect;
  const created = (client: RecordingRedisClient): CreateKeyvConnect => client as unknown as CreateKeyvConnect;
  const setups: [string, (client: RecordingRedisClient) => Keyv][] = [
    ['default Keyv', (client) => new Keyv({ store: new KeyvRedis(adapter(client)) })],
    ['namespaced Keyv', (client) => new Keyv({ store: new KeyvRedis(adapter(client)), namespace: 'app' })],
    ['separator', (client) => new Keyv({ store: new KeyvRedis(adapter(client), { keyPrefixSeparator: '|' }), namespace: 'app' })],
    ['createKeyv', (client) => createKeyv(created(client))],
    ['createKeyv with a namespace', (client) => createKeyv(created(client), { namespace: 'ns' })],
    ['no key prefix', (client) => new Keyv({ store: new KeyvRedis(adapter(client)), useKeyPrefix: false })],
  ];
  const keys = ['{oc:=a:posts}:gen', '{oc:=a:posts}:tv'];
  for (const [name, make] of setups) {
    const client = new RecordingRedisClient();
    const keyv = make(client);
    const announced: unknown[] = [];
    keyv.hooks.addHandler('preDelete', (data: unknown) => void announced.push(data));
    await keyv.delete(keys[0]!);
    await keyv.deleteMany(keys);
    const byKeyv = client.deleted.splice(0);
    const byKeyvAnnounced = announced.splice(0);
    t.is(byKeyv.length, 3, `${name}: the recording client saw ${JSON.stringify(byKeyv)}`);

    const redis = keyvRedisOf(keyv);
    t.truthy(redis, name);
    t.deepEqual(redis?.storedKeys([keys[0]!]), byKeyv.slice(0, 1), `${name}: a single key is not prefixed as Keyv.delete does`);
    t.deepEqual(redis?.storedKeys(keys), byKeyv.slice(1), `${name}: keys are not prefixed as Keyv.deleteMany does`);
    t.deepEqual(announced, [], `${name}: storedKeys announced a deletion`);
    redis?.announceDelete([keys[0]!]);
    redis?.announceDelete(keys);
    t.deepEqual(announced, byKeyvAnnounced, `${name}: preDelete is not announced as Keyv announces it`);
    t.deepEqual(
      keys.map((key) => redis!.storedPrefix + key),
      byKeyv.slice(1),
      `${name}: storedPrefix is not what storedKeys puts before a key`,
    );
    t.deepEqual(client.deleted, [], 'storedKeys deletes nothing itself');
  }
});

test('keyv: keyvMapOf finds the Map of a plain Keyv and its prefix, and nothing behind an adapter or compression', (t) => {
  const plain = new Keyv();
  t.is(keyvMapOf(plain)?.map as unknown, plain.store);
  t.is(keyvMapOf(plain)?.prefix, 'keyv:');
  t.is(keyvMapOf(new Keyv({ namespace: 'app' }))?.prefix, 'app:');
  t.is(keyvMapOf(new Keyv({ store: new Map(), useKeyPrefix: false }))?.prefix, '');
  t.is(keyvMapOf(new Keyv({ store: new KeyvRedis('redis://127.0.0.1:1') })), undefined);
  t.is(keyvMapOf(new Keyv({ compression: { compress: (v: unknown) => v, decompress: (v: unknown) => v } })), undefined);
});

test('keyv: a plain Keyv reads entries under its prefix written in KeyvMapEntry format, and the prefix is where it writes', async (t) => {
  const keyv = new Keyv({ namespace: 'app' });
  const { map, prefix } = keyvMapOf(keyv)!;
  map.set(`${prefix}mine`, { value: 'x' } satisfies KeyvMapEntry);
  t.is(await keyv.get('mine'), 'x');
  await keyv.set('theirs', 'y');
  t.true(map.has(`${prefix}theirs`), 'Keyv no longer writes under namespace:key');
});

test('keyv: toKeyvEnvelope writes what @keyv/serialize writes for a string, and fromKeyvEnvelope reads it back', (t) => {
  const now = Date.now();
  for (const value of ['gen\nguard\np\n{"a":1}', ':colon', '::two', 'plain', '', 'ünï "quoted" \\ back']) {
    for (const expires of [undefined, now + 1000]) {
      t.is(toKeyvEnvelope(value, expires), defaultSerialize({ value, expires }), JSON.stringify(value));
      t.is(fromKeyvEnvelope(toKeyvEnvelope(value, expires), now), (defaultDeserialize(defaultSerialize({ value, expires })) as { value: string }).value);
    }
  }
  t.is(fromKeyvEnvelope(toKeyvEnvelope('old', now - 1), now), undefined, 'an expired envelope is no value');
  t.is(fromKeyvEnvelope('not json', now), undefined);
  t.is(fromKeyvEnvelope(defaultSerialize({ value: Buffer.from('x') }), now), undefined, 'a Buffer is none of ours');
  t.is(fromKeyvEnvelope(undefined, now), undefined);
});

test('keyv: fromKeyvEnvelope reads token envelopes without JSON.parse exactly as JSON.parse would', (t) => {
  const now = Date.now();
  // what JSON.parse makes of an envelope: the reference the short path must match
  const reference = (raw: string): string | undefined => {
    try {
      const { value, expires } = JSON.parse(raw) as { value?: unknown; expires?: unknown };
      if (typeof value !== 'string' || (typeof expires === 'number' && now > expires)) return undefined;
      return value.startsWith(':') ? (value.startsWith(':base64:') ? undefined : value.slice(1)) : value;
    } catch {
      return undefined;
    }
  };
  const tokens = ['J-lrpHa4ZhKY_09azQ1', 'a', '', ':x', '::x', ':base64:eA=='];
  const envelopes = [
    ...tokens.flatMap((token) => [undefined, now + 1000, now - 1, now].map((expires) => toKeyvEnvelope(token, expires))),
    `{"value":"abc","expires":${now - 1}}`,
    `{"expires":${now + 1000},"value":"abc"}`,
    `{"value":"a\\"b"}`,
    `{"value":"a\\\\"}`,
    `{"value":"abc","other":1}`,
    `{"value":"abc"} `,
    `{"value":"abc","expires":}`,
    `{"value":"abc","expires":"soon"}`,
    `{"value":"abc"`,
    `{"value":"`,
  ];
  for (const raw of envelopes) t.is(fromKeyvEnvelope(raw, now), reference(raw), raw);
});

test('redis: clientSideCacheBase is the provider class node-redis accepts from a client and a cluster', (t) => {
  const Base = clientSideCacheBase();
  t.is(typeof Base, 'function', '@redis/client lost BasicPooledClientSideCache');
  const provider = new Base!({ maxEntries: 1 });
  for (const hook of ['invalidate', 'clear', 'onError', 'onClose', 'disable', 'enable', 'handleCache', 'trackingOn'] as const) {
    t.is(typeof (provider as unknown as Record<string, unknown>)[hook], 'function', `the provider lost ${hook}`);
  }
  const adapter = new KeyvRedis('redis://127.0.0.1:1');
  const client = (adapter.client as unknown as { duplicate(o: object): object }).duplicate({ RESP: 3, clientSideCache: provider });
  t.is(clientSideCacheOf(client), provider, 'a single client did not take the provider as it is');
});

test('keyv: KeyvMapEntry is how Keyv keeps an unserialized entry in a Map store', async (t) => {
  const map = new Map<string, unknown>();
  const keyv = new Keyv({ store: map, serialize: undefined, deserialize: undefined, useKeyPrefix: false });
  const before = Date.now();
  await keyv.set('k', 'v', 1000);
  const after = Date.now();
  const entry = map.get('k') as KeyvMapEntry | undefined;
  t.truthy(entry, 'Keyv no longer stores under the key as given (useKeyPrefix: false)');
  t.is(entry?.value, 'v', 'Keyv no longer keeps { value } unserialized');
  t.is(typeof entry?.expires, 'number', 'Keyv no longer keeps { expires } as a number');
  t.true(entry!.expires! >= before + 1000 && entry!.expires! <= after + 1000);
  await keyv.set('forever', 'w');
  t.is((map.get('forever') as KeyvMapEntry).value, 'w');
  t.is((map.get('forever') as KeyvMapEntry).expires, undefined);

  // and back: Keyv reads entries written in that format, and drops expired ones
  const written: KeyvMapEntry = { value: 'x' };
  map.set('mine', written);
  t.is(await keyv.get('mine'), 'x');
  map.set('stale', { value: 'y', expires: Date.now() - 1 } satisfies KeyvMapEntry);
  t.is(await keyv.get('stale'), undefined);
  t.false(map.has('stale'));
});
