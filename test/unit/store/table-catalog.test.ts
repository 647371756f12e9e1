import test from 'ava';

import { CatalogTable, TableCatalog } from '../../../src/store/table-catalog.js';

const tablesOf = (entries: readonly CatalogTable[]): string[] => entries.map((entry) => entry.table).sort();

test('register: the first owner wins, and the same entry comes back', (t) => {
  const catalog = new TableCatalog();
  const first = {};
  const second = {};
  const entry = catalog.register('oc', 'posts', first, ['comments']);
  t.true(entry instanceof CatalogTable);
  t.is(entry.table, 'posts');
  t.is(entry.owner, first);
  t.deepEqual(entry.cascades, ['comments']);
  const again = catalog.register('oc', 'posts', second, ['other']);
  t.is(again, entry);
  t.is(again.owner, first);
  t.deepEqual(again.cascades, ['comments']);
  t.is(catalog.get('oc', 'posts'), entry);
  t.is(catalog.size, 1);
});

test('get: per prefix and exact table name', (t) => {
  const catalog = new TableCatalog();
  const entry = catalog.register('oc', 'app.posts', {}, []);
  t.is(catalog.get('oc', 'app.posts'), entry);
  t.is(catalog.get('oc', 'posts'), undefined);
  t.is(catalog.get('other', 'app.posts'), undefined);
});

test('written: an unqualified name reaches every schema, a qualified one its own schema and unqualified tables', (t) => {
  const catalog = new TableCatalog();
  catalog.register('oc', 'posts', {}, []);
  catalog.register('oc', 'app.posts', {}, []);
  catalog.register('oc', 'other.posts', {}, []);
  catalog.register('oc', 'users', {}, []);
  t.deepEqual(tablesOf(catalog.written('oc', 'posts')), ['app.posts', 'other.posts', 'posts']);
  t.deepEqual(tablesOf(catalog.written('oc', 'app.posts')), ['app.posts', 'posts']);
  t.deepEqual(tablesOf(catalog.written('oc', 'other.posts')), ['other.posts', 'posts']);
  t.deepEqual(tablesOf(catalog.written('oc', 'users')), ['users']);
  t.deepEqual(tablesOf(catalog.written('oc', 'comments')), []);
  t.deepEqual(tablesOf(catalog.written('oc', 'app.comments')), []);
});

test('written: only a qualified entry registered, reached both ways', (t) => {
  const catalog = new TableCatalog();
  catalog.register('oc', 'app.posts', {}, []);
  t.deepEqual(tablesOf(catalog.written('oc', 'posts')), ['app.posts']);
  t.deepEqual(tablesOf(catalog.written('oc', 'app.posts')), ['app.posts']);
  t.deepEqual(tablesOf(catalog.written('oc', 'other.posts')), []);
});

test('written and register are per prefix', (t) => {
  const catalog = new TableCatalog();
  const a = catalog.register('a', 'posts', {}, []);
  const b = catalog.register('b', 'posts', {}, []);
  t.not(a, b);
  t.deepEqual(catalog.written('a', 'posts'), [a]);
  t.deepEqual(catalog.written('b', 'posts'), [b]);
  t.deepEqual(catalog.written('c', 'posts'), []);
  t.is(catalog.size, 2);
});

test('addKeyColumns: the union of every class key columns, remade only when it grows', (t) => {
  const entry = new TableCatalog().register('oc', 'posts', {}, []);
  t.deepEqual(entry.keyColumns, []);
  entry.addKeyColumns(['id']);
  t.deepEqual(entry.keyColumns, ['id']);
  entry.addKeyColumns(['slug', 'id']);
  t.deepEqual(entry.keyColumns, ['id', 'slug']);
  const before = entry.keyColumns;
  entry.addKeyColumns(['slug']);
  entry.addKeyColumns([]);
  t.is(entry.keyColumns, before, 'the same array while the union does not grow');
  entry.addKeyColumns(['uuid']);
  t.deepEqual(entry.keyColumns, ['id', 'slug', 'uuid']);
  t.deepEqual(before, ['id', 'slug'], 'a list handed out is never changed');
});
