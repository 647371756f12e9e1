import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { startPostgres, type Postgres } from './postgres.js';

/** The database a test runs on: in-memory SQLite, or a throwaway PostgreSQL cluster the tests start. */
export type DbKind = 'sqlite' | 'postgres';

let postgres: Promise<Postgres> | undefined;

export function postgresServer(): Promise<Postgres> {
  return (postgres ??= startPostgres());
}

export async function stopPostgres(): Promise<void> {
  await (await postgres)?.stop();
}

/** A fresh, empty database of the given kind, destroyed when the test ends. */
export async function makeKnex(t: ExecutionContext, db: DbKind): Promise<Knex> {
  if (db === 'sqlite') {
    const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
    t.teardown(() => knex.destroy());
    return knex;
  }
  const { port } = await postgresServer();
  const connection = { host: '127.0.0.1', port, user: 'postgres' };
  const database = `t_${randomBytes(6).toString('hex')}`;
  const admin = knexPkg({ client: 'pg', connection: { ...connection, database: 'postgres' }, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${database}`);
  await admin.destroy();
  const knex = knexPkg({ client: 'pg', connection: { ...connection, database }, pool: { min: 0, max: 8 } });
  t.teardown(() => knex.destroy());
  return knex;
}

/** SQLite's and PostgreSQL's words for a unique-key violation. */
export const UNIQUE_VIOLATION = /UNIQUE constraint failed|duplicate key value violates unique constraint/;
