import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexPkg from 'knex';
import { makePostClass, POSTS_DDL } from './fixture.js';
import { makeKnex, type DbKind } from './databases.js';
import { makeStore, type StoreKind } from './stores.js';

/**
 * One SQLite file (WAL, so a reader runs beside an open write transaction) opened by two knex instances: the
 * writer's transactions hold its one connection while readers use the other, as two app servers would.
 */
export async function twoConnections(t: ExecutionContext, kind: StoreKind = 'memory', db: DbKind = 'sqlite') {
  if (db === 'postgres') {
    // PostgreSQL runs transactions side by side on its own: one pool serves writer and readers.
    const knex = await makeKnex(t, 'postgres');
    await knex.schema.createTable('posts', POSTS_DDL);
    for (let i = 1; i <= 3; i++) await knex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}` });
    const store = await makeStore(t, kind);
    const Writer = makePostClass(store);
    Writer.knex(knex);
    return { store, Writer, Reader: Writer.bindKnex(knex), writerKnex: knex, readerKnex: knex, file: undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'objection-cache-'));
  const file = join(dir, 'db.sqlite');
  const open = () => knexPkg({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  const writerKnex = open();
  const readerKnex = open();
  t.teardown(async () => {
    await writerKnex.destroy();
    await readerKnex.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  await writerKnex.raw('PRAGMA journal_mode = WAL');
  await writerKnex.schema.createTable('posts', POSTS_DDL);
  for (let i = 1; i <= 3; i++) await writerKnex('posts').insert({ slug: `post-${i}`, name: `Post ${i}`, title: `Title ${i}` });
  const store = await makeStore(t, kind);
  const Writer = makePostClass(store);
  Writer.knex(writerKnex);
  const Reader = Writer.bindKnex(readerKnex);
  return { store, Writer, Reader, writerKnex, readerKnex, file };
}
