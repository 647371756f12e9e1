import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { startMariaDb, type MariaDb } from './mariadb.js';
import { startPostgres, type Postgres } from './postgres.js';

/** The database a test runs on: in-memory SQLite, or a throwaway PostgreSQL cluster or MariaDB the tests start. */
export type DbKind = 'sqlite' | 'postgres' | 'mysql';

let mariadb: Promise<MariaDb> | undefined;

export function mariaDbServer(): Promise<MariaDb> {
  return (mariadb ??= startMariaDb());
}

export async function stopMariaDb(): Promise<void> {
  await (await mariadb)?.stop();
}

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
  if (db === 'mysql') {
    const { port } = await mariaDbServer();
    const connection = { host: '127.0.0.1', port, user: 'root' };
    const database = `t_${randomBytes(6).toString('hex')}`;
    const admin = knexPkg({ client: 'mysql2', connection, pool: { min: 0, max: 1 } });
    // the collation MySQL and MariaDB apps mostly run with: case- and accent-insensitive
    await admin.raw(`create database ${database} character set utf8mb4 collate utf8mb4_general_ci`);
    await admin.destroy();
    const knex = knexPkg({ client: 'mysql2', connection: { ...connection, database, supportBigNumbers: true }, pool: { min: 0, max: 8 } });
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

/** SQLite's, PostgreSQL's and MariaDB's words for a unique-key violation. */
export const UNIQUE_VIOLATION = /UNIQUE constraint failed|duplicate key value violates unique constraint|Duplicate entry/;
