import test from 'ava';
import knex, { type Knex } from 'knex';

import { keyConditionOf, tablesOf } from '../../../src/reads/query-shape.js';

// Builders only: nothing here runs a query.
const db = knex({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
test.after.always(() => db.destroy());

const sorted = (tables: Set<string>): string[] => [...tables].sort();

test('tablesOf: the table of a plain query', (t) => {
  t.deepEqual(sorted(tablesOf(db('posts').where('id', 1))), ['posts']);
});

test('tablesOf: "posts as p" and the { alias: table } form name the table, not the alias', (t) => {
  t.deepEqual(sorted(tablesOf(db('posts as p'))), ['posts']);
  t.deepEqual(sorted(tablesOf(db('posts AS p'))), ['posts']);
  t.deepEqual(sorted(tablesOf(db({ p: 'posts' }))), ['posts']);
  t.deepEqual(sorted(tablesOf(db({ p: 'posts' }).join({ u: 'users' }, 'u.id', 'p.author_id'))), ['posts', 'users']);
});

test('tablesOf: joined tables', (t) => {
  const query = db('posts').join('users', 'users.id', 'posts.author_id').leftJoin('tags as t', 't.id', 'posts.tag_id');
  t.deepEqual(sorted(tablesOf(query)), ['posts', 'tags', 'users']);
});

test('tablesOf: a whereIn subquery', (t) => {
  t.deepEqual(sorted(tablesOf(db('posts').whereIn('author_id', db('users').select('id')))), ['posts', 'users']);
});

test('tablesOf: subqueries built by callbacks', (t) => {
  const whereIn = db('posts').whereIn('author_id', function (this: Knex.QueryBuilder) {
    void this.select('id').from('users');
  });
  t.deepEqual(sorted(tablesOf(whereIn)), ['posts', 'users']);
  const grouped = db('posts').where((qb) => {
    void qb.where('a', 1).orWhereExists(db('comments').select('id'));
  });
  t.deepEqual(sorted(tablesOf(grouped)), ['comments', 'posts']);
});

test('tablesOf: a with clause (CTE) name is no table, the tables its query reads are', (t) => {
  const query = db.with('recent', db('posts').where('x', 1)).select('*').from('recent').join('users', 'users.id', 'recent.author_id');
  t.deepEqual(sorted(tablesOf(query)), ['posts', 'users']);
});

test('tablesOf: a CTE name is hidden in the subqueries of the query declaring it too', (t) => {
  const query = db.with('r', db('posts')).from('users').whereIn('id', db('r').select('author_id'));
  t.deepEqual(sorted(tablesOf(query)), ['posts', 'users']);
  // ...but not in an unrelated query
  t.deepEqual(sorted(tablesOf(db('r'))), ['r']);
});

test('tablesOf: union, with a builder or a callback', (t) => {
  t.deepEqual(sorted(tablesOf(db('posts').select('id').union(db('drafts').select('id')))), ['drafts', 'posts']);
  const callback = db('posts')
    .select('id')
    .union(function (this: Knex.QueryBuilder) {
      void this.select('id').from('archive');
    });
  t.deepEqual(sorted(tablesOf(callback)), ['archive', 'posts']);
});

test('tablesOf: subqueries in from, select and raw bindings', (t) => {
  t.deepEqual(sorted(tablesOf(db.from(db('posts').as('p')))), ['posts']);
  t.deepEqual(sorted(tablesOf(db('posts').select(db('comments').count().as('n')))), ['comments', 'posts']);
  t.deepEqual(sorted(tablesOf(db('posts').whereRaw('id in (?)', [db('users').select('id')]))), ['posts', 'users']);
});

test('tablesOf: tables named only in raw SQL are not seen', (t) => {
  t.deepEqual(sorted(tablesOf(db.select('*').from(db.raw('secret')))), []);
});

const KEYS = ['id', 'slug'] as const;

/** A raw column reference, as Objection's `ref()` hands it to knex (knex's typings take only names there). */
const column = (value: Knex.Raw): string => value as unknown as string;

test('keyConditionOf: where col = v', (t) => {
  t.deepEqual(keyConditionOf(db('posts').where('id', 1), 'posts', KEYS), { column: 'id', values: [1] });
  t.deepEqual(keyConditionOf(db('posts').where('slug', '=', 'a'), 'posts', KEYS), { column: 'slug', values: ['a'] });
  t.deepEqual(keyConditionOf(db('posts').where({ id: 5n }), 'posts', KEYS), { column: 'id', values: [5n] });
});

test('keyConditionOf: whereIn', (t) => {
  t.deepEqual(keyConditionOf(db('posts').whereIn('id', [1, '2', 3n] as unknown as readonly number[]), 'posts', KEYS), { column: 'id', values: [1, '2', 3n] });
});

test('keyConditionOf: table.col, select * and select table.*', (t) => {
  t.deepEqual(keyConditionOf(db('posts').where('posts.id', 1), 'posts', KEYS), { column: 'id', values: [1] });
  t.deepEqual(keyConditionOf(db('posts').select('posts.*').whereIn('posts.slug', ['a']), 'posts', KEYS), { column: 'slug', values: ['a'] });
  t.deepEqual(keyConditionOf(db('posts').select('*').where('id', 1), 'posts', KEYS), { column: 'id', values: [1] });
  t.deepEqual(keyConditionOf(db('posts').where(column(db.raw('??', ['posts.id'])), 1), 'posts', KEYS), { column: 'id', values: [1] });
});

test('keyConditionOf: a column of another table is no key', (t) => {
  t.is(keyConditionOf(db('posts').where('users.id', 1), 'posts', KEYS), undefined);
  t.is(keyConditionOf(db('posts').where(column(db.raw('??', ['users.id'])), 1), 'posts', KEYS), undefined);
  t.is(keyConditionOf(db('posts').where(column(db.raw('id')), 1), 'posts', KEYS), undefined);
});

test('keyConditionOf: rejects any other table, alias or statement', (t) => {
  const rejected: [string, Knex.QueryBuilder][] = [
    ['other table', db('users').where('id', 1)],
    ['aliased table', db('posts as p').where('id', 1)],
    ['no condition', db('posts')],
    ['extra where', db('posts').where('id', 1).where('title', 'x')],
    ['two key conditions', db('posts').where('id', 1).where('slug', 'a')],
    ['orWhere', db('posts').where('id', 1).orWhere('id', 2)],
    ['orderBy', db('posts').where('id', 1).orderBy('id')],
    ['non key column', db('posts').where('title', 'x')],
    ['whereNot', db('posts').whereNot('id', 1)],
    ['whereNotIn', db('posts').whereNotIn('id', [1])],
    ['other operator', db('posts').where('id', '>', 1)],
    ['whereNull', db('posts').where('id', null)],
    ['boolean value', db('posts').where('id', true)],
    ['date value', db('posts').where('id', new Date(0))],
    ['whereIn subquery', db('posts').whereIn('id', db('users').select('id'))],
    ['whereRaw', db('posts').whereRaw('id = ?', [1])],
    ['column list', db('posts').select('title').where('id', 1)],
    ['other table star', db('posts').select('users.*').where('id', 1)],
    ['join', db('posts').join('users', 'users.id', 'posts.author_id').where('posts.id', 1)],
    ['offset', db('posts').where('id', 1).offset(1)],
    ['lock', db('posts').where('id', 1).forUpdate()],
    ['first', db('posts').where('id', 1).first()],
    ['update', db('posts').where('id', 1).update({ title: 'x' })],
    ['delete', db('posts').where('id', 1).delete()],
    ['distinct', db('posts').distinct().where('id', 1)],
  ];
  for (const [name, builder] of rejected) t.is(keyConditionOf(builder, 'posts', KEYS), undefined, name);
});

test('keyConditionOf: a limit smaller than the values is rejected', (t) => {
  t.is(keyConditionOf(db('posts').whereIn('id', [1, 2]).limit(1), 'posts', KEYS), undefined);
});

test('keyConditionOf: a limit at least the number of values is accepted (knex puts skipBinding in _single)', (t) => {
  // knex's limit() also sets `_single.skipBinding`: a limited lookup (Objection's `first()` with
  // `useLimitInFirst`) is still a key lookup.
  t.deepEqual(keyConditionOf(db('posts').where('id', 1).limit(1), 'posts', KEYS), { column: 'id', values: [1] });
  t.deepEqual(keyConditionOf(db('posts').whereIn('id', [1, 2]).limit(2), 'posts', KEYS), { column: 'id', values: [1, 2] });
});

test('keyConditionOf: anything that is no knex builder', (t) => {
  t.is(keyConditionOf({} as Knex.QueryBuilder, 'posts', KEYS), undefined);
});
