import test from 'ava';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeKnex, mariaDbServer, postgresServer } from './helpers/databases.js';
import { redisServer, useStores } from './helpers/stores.js';

useStores(test);

// Several Node processes share one Redis and one PostgreSQL (or MariaDB) database, reading and writing the same rows at once.
// Each write's new version is published (in Redis, outside the cache) only after the write has returned; every
// read first looks up the newest published version of its row and counts a violation if the cache answers older.

const WORKERS = 4;
const OPS = 1_500;
const ROWS = 24;

interface Stats {
  reads: number;
  writes: number;
  violations: string[];
  staleWithinBound: number;
  maxStaleAgeMs: number;
}

/** The staleness bound README states for the local tier. */
const LOCAL_BOUND_MS = 100;

const RUNS: { title: string; db: 'postgres' | 'mysql'; localCache?: { maxEntries: number; ttl: number; boundMs: number } }[] = [
  { title: 'after a write returns, no process reads the old row: 0 violations in 6,000 concurrent operations', db: 'postgres' },
  {
    title: `with localCache: no process reads a row older than a write that returned more than ${LOCAL_BOUND_MS} ms before (6,000 operations)`,
    db: 'postgres',
    localCache: { maxEntries: 10_000, ttl: 60_000, boundMs: LOCAL_BOUND_MS },
  },
  { title: 'on MariaDB: after a write returns, no process reads the old row (6,000 concurrent operations)', db: 'mysql' },
];

for (const { title, db, localCache } of RUNS)
  test(title, async (t) => {
    const knex = await makeKnex(t, db);
    await knex.schema.createTable('posts', (table) => {
      table.increments('id');
      table.string('slug').unique();
      table.integer('views').notNullable().defaultTo(0);
    });
    await knex('posts').insert(Array.from({ length: ROWS }, (_, i) => ({ slug: `p${i + 1}` })));
    const { port } = db === 'mysql' ? await mariaDbServer() : await postgresServer();
    const database = (knex.client.config.connection as { database: string }).database;
    const connection = { host: '127.0.0.1', port, user: db === 'mysql' ? 'root' : 'postgres', database };
    const redis = await redisServer();
    const worker = fileURLToPath(new URL('./helpers/worker.ts', import.meta.url));
    const results = await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const job = {
          redisUrl: redis.url,
          db: { client: db === 'mysql' ? 'mysql2' : 'pg', connection },
          index,
          workers: WORKERS,
          rows: ROWS,
          ops: OPS,
          seed: 17 + index,
          localCache,
          namespace: `processes-${db}${localCache ? '-local' : ''}`,
        };
        const child = fork(worker, [JSON.stringify(job)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        return new Promise<Stats>((resolve, reject) => {
          let stats: Stats | undefined;
          child.on('message', (message) => (stats = message as Stats));
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 && stats ? resolve(stats) : reject(new Error(`worker ${index} exited with ${code}`))));
        });
      }),
    );
    const reads = results.reduce((n, r) => n + r.reads, 0);
    const writes = results.reduce((n, r) => n + r.writes, 0);
    const violations = results.flatMap((r) => r.violations);
    const staleWithinBound = results.reduce((n, r) => n + r.staleWithinBound, 0);
    const maxStaleAge = Math.max(...results.map((r) => r.maxStaleAgeMs));
    t.log(`${WORKERS} processes: ${reads} reads, ${writes} writes, ${violations.length} violations`);
    if (localCache) t.log(`local tier: ${staleWithinBound} reads older than a write that returned within the bound, oldest ${maxStaleAge} ms after it`);
    t.true(reads + writes >= 5_000);
    t.true(writes > 500 && reads > 3_000);
    t.deepEqual(violations, []);
    const rows = await knex('posts').sum('views as total');
    t.is(Number(rows[0]!.total), writes, 'every write landed');
  });
