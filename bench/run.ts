// npm run bench: objection-cache against the uncached query, a hand-written cache-aside and bentocache, on the
// memory store and on Redis, over a SQLite file of 100,000 posts. Prints a table and writes bench/results.json,
// bench/results.md and bench/latency.svg. Times are medians and p99s of many runs; every figure is measured in
// this run, on this machine, so compare ratios, not absolute numbers, across machines.
import KeyvRedis, { createClient } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import Keyv from 'keyv';
import { Model } from 'objection';
import { cached, CachedModel, createMemoryStore } from 'objection-cache';
import { Bench } from 'tinybench';
import { startPostgres, type Postgres } from '../test/helpers/postgres.js';
import { startRedis, type RedisServer } from '../test/helpers/redis.js';
import { renderChart } from './chart.js';

const ROWS = 100_000;
const TIME = Number(process.env.BENCH_TIME ?? 500); // ms of measured runs per task
const MIXED_OPS = Number(process.env.BENCH_MIXED_OPS ?? 20_000);
const OUTAGE_OPS = 2_000;
const here = import.meta.dirname;

// ---------------------------------------------------------------- data
const POSTS = (table: Knex.CreateTableBuilder) => {
  table.increments('id');
  table.string('slug').notNullable().unique();
  table.string('name').notNullable().unique();
  table.string('title').notNullable();
  table.text('body').notNullable();
  table.integer('views').notNullable().defaultTo(0);
};

async function seed(knex: Knex, batch: number): Promise<void> {
  await knex.schema.dropTableIfExists('posts');
  await knex.schema.createTable('posts', POSTS);
  await knex.transaction(async (trx) => {
    for (let i = 1; i <= ROWS; i += batch) {
      const rows = Array.from({ length: Math.min(batch, ROWS - i + 1) }, (_, j) => ({
        slug: `post-${i + j}`,
        name: `Post ${i + j}`,
        title: `Title ${i + j}`,
        body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(4),
      }));
      await trx('posts').insert(rows);
    }
  });
}

/** The SQLite file, made once and kept in bench/data (100,000 rows take a few seconds to write). */
async function openSqlite(): Promise<Knex> {
  mkdirSync(join(here, 'data'), { recursive: true });
  const file = join(here, 'data', 'posts.sqlite');
  const fresh = !existsSync(file);
  const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
  if (fresh || Number((await knex('posts').count('* as n').catch(() => [{ n: 0 }]))[0]!.n) !== ROWS) {
    // knex writes a multi-row insert on SQLite as a compound SELECT, limited to 500 terms
    await seed(knex, 400);
  }
  await knex.raw('PRAGMA journal_mode = WAL');
  return knex;
}

/** A throwaway PostgreSQL cluster on loopback, as the tests start it, seeded with the same rows. */
async function openPostgres(): Promise<{ knex: Knex; server: Postgres } | undefined> {
  let server: Postgres;
  try {
    server = await startPostgres();
  } catch (error) {
    console.warn(`PostgreSQL cases skipped: ${String(error)}`);
    return undefined;
  }
  const connection = { host: '127.0.0.1', port: server.port, user: 'postgres' };
  const admin = knexPkg({ client: 'pg', connection: { ...connection, database: 'postgres' } });
  await admin.raw('create database bench');
  await admin.destroy();
  const knex = knexPkg({ client: 'pg', connection: { ...connection, database: 'bench' }, pool: { min: 1, max: 10 } });
  await seed(knex, 1000);
  return { knex, server };
}

class PlainPost extends Model {
  static override tableName = 'posts';
  declare id: number;
  declare slug: string;
  declare title: string;
  declare views: number;
}

// The database the cases run on now, with its query counter.
let db = 'sqlite';
let knex: Knex;
let Plain: typeof PlainPost;
let dbQueries = 0;
/** Knex instances the baselines opened, destroyed at the end. */
const baselineKnexes: Knex[] = [];
function useDatabase(name: string, connection: Knex): void {
  db = name;
  knex = connection;
  knex.on('query', () => dbQueries++);
  // The uncached baselines query through a knex instance of their own on the same database: a write through a
  // knex that a cached model uses is flushed (src/raw-writes.ts), which would put the cache's work into the
  // baseline it is compared with.
  const own = knexPkg({ ...(connection.client as { config: Knex.Config }).config });
  own.on('query', () => dbQueries++);
  baselineKnexes.push(own);
  Plain = PlainPost.bindKnex(own);
}

// ---------------------------------------------------------------- redis
let redis: RedisServer | undefined;
try {
  redis = await startRedis();
} catch (error) {
  console.warn(`Redis cases skipped: ${String(error)}`);
}
const info = redis ? createClient({ url: redis.url }) : undefined;
await info?.connect();
async function redisCommandCount(): Promise<number> {
  if (!info) return 0;
  const text = await info.info('commandstats');
  let calls = 0;
  for (const match of text.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) if (match[1] !== 'info') calls += Number(match[2]);
  return calls;
}

// ---------------------------------------------------------------- measuring
export interface Row {
  store: string;
  db: string;
  kind: 'case' | 'baseline';
  name: string;
  opsPerSec: number;
  p50: number;
  p99: number;
  dbPerOp: number;
  redisPerOp: number | null;
  ratios: Record<string, number>;
}
const rows: Row[] = [];

interface Task {
  name: string;
  fn: () => PromiseLike<unknown>;
  beforeEach?: () => PromiseLike<unknown>;
  /** Iterations of the exact count of DB queries and Redis commands (outside the timed runs). */
  countRuns?: number;
}

async function measure(store: string, kind: Row['kind'], task: Task): Promise<Row> {
  const bench = new Bench({ time: TIME, warmupTime: 100, iterations: 5 });
  const before = task.beforeEach;
  bench.add(task.name, async () => void (await task.fn()), before ? { beforeEach: async () => void (await before()) } : {});
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state} ${'error' in result ? String(result.error) : ''}`);
  return record(store, kind, task, { opsPerSec: result.throughput.mean, p50: result.latency.p50, p99: result.latency.p99 });
}

/** Counts the task's DB queries and Redis commands per operation in untimed runs, and adds its row. */
async function record(store: string, kind: Row['kind'], task: Task, timing: Pick<Row, 'opsPerSec' | 'p50' | 'p99'>): Promise<Row> {
  const runs = task.countRuns ?? 20;
  let queries = 0;
  let commands = 0;
  for (let i = 0; i < runs; i++) {
    await task.beforeEach?.();
    const db0 = dbQueries;
    const c0 = await redisCommandCount();
    await task.fn();
    queries += dbQueries - db0;
    commands += (await redisCommandCount()) - c0;
  }
  const row: Row = {
    store,
    db,
    kind,
    name: task.name,
    ...timing,
    dbPerOp: queries / runs,
    redisPerOp: store === 'redis' ? commands / runs : null,
    ratios: {},
  };
  return addRow(row);
}

/**
 * A case whose cost differs from its baseline's by a few microseconds, more than the noise between two cases
 * measured one after the other: both run in alternating rounds, so they share whatever the machine is doing.
 * Returns [baseline, case].
 */
async function measureInterleaved(store: string, baseline: Task, task: Task, rounds = 40, perRound = 100): Promise<[Row, Row]> {
  const tasks = [baseline, task];
  for (const t of tasks) for (let i = 0; i < perRound; i++) await t.fn(); // warm-up
  const latencies = tasks.map(() => new Float64Array(rounds * perRound));
  const busy = [0, 0];
  for (let round = 0; round < rounds; round++) {
    for (const [k, t] of tasks.entries()) {
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await t.fn();
        const took = performance.now() - t0;
        latencies[k]![round * perRound + i] = took;
        busy[k]! += took;
      }
    }
  }
  const timing = (k: number) => {
    const sorted = latencies[k]!.sort();
    return { opsPerSec: (sorted.length / busy[k]!) * 1000, p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
  };
  return [await record(store, 'baseline', baseline, timing(0)), await record(store, 'case', task, timing(1))];
}

/** A workload run by hand: `ops` operations, `concurrency` at a time; latency of each and throughput overall. */
async function measureWorkload(store: string, kind: Row['kind'], name: string, ops: number, concurrency: number, op: (i: number) => PromiseLike<unknown>): Promise<Row> {
  const latencies = new Float64Array(ops);
  let next = 0;
  const db0 = dbQueries;
  const c0 = await redisCommandCount();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const elapsed = performance.now() - start;
  const commands = (await redisCommandCount()) - c0;
  latencies.sort();
  const row: Row = {
    store,
    db,
    kind,
    name,
    opsPerSec: (ops / elapsed) * 1000,
    p50: latencies[Math.floor(ops * 0.5)]!,
    p99: latencies[Math.floor(ops * 0.99)]!,
    dbPerOp: (dbQueries - db0) / ops,
    redisPerOp: store === 'redis' ? commands / ops : null,
    ratios: {},
  };
  return addRow(row);
}

/**
 * `ops` operations one after another, timed one by one, with no Redis command count: for the outage case, where
 * the server that would count them is paused. Logs how many operations took longer than `slowMs`.
 */
async function measureSequential(store: string, name: string, ops: number, slowMs: number, op: (i: number) => PromiseLike<unknown>): Promise<Row> {
  const latencies = new Float64Array(ops);
  const db0 = dbQueries;
  const start = performance.now();
  for (let i = 0; i < ops; i++) {
    const t0 = performance.now();
    await op(i);
    latencies[i] = performance.now() - t0;
  }
  const elapsed = performance.now() - start;
  const slow = latencies.filter((latency) => latency > slowMs).length;
  latencies.sort();
  const row: Row = {
    store,
    db,
    kind: 'case',
    name,
    opsPerSec: (ops / elapsed) * 1000,
    p50: latencies[Math.floor(ops * 0.5)]!,
    p99: latencies[Math.floor(ops * 0.99)]!,
    dbPerOp: (dbQueries - db0) / ops,
    redisPerOp: null,
    ratios: {},
  };
  return addRow(row, `  (${slow} of ${ops} over ${slowMs} ms, max ${latencies[ops - 1]!.toFixed(0)} ms)`);
}

/** Adds a measured row to the results and prints it, with `note` after the figures. */
function addRow(row: Row, note = ''): Row {
  rows.push(row);
  console.log(`${`${row.store}/${row.db}`.padEnd(15)} ${row.name.padEnd(44)} ${fmt(row.opsPerSec).padStart(10)} ops/s  p50 ${ms(row.p50)}  p99 ${ms(row.p99)}${note}`);
  return row;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const ms = (n: number) => `${n < 0.1 ? n.toFixed(4) : n.toFixed(3)} ms`.padStart(11);

/** Zipf over ranks 1..n with exponent s, from a seeded generator: a few slugs hot, a long tail cold. */
function zipf(n: number, s: number, seed: number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = total += 1 / k ** s;
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const u = (state / 2 ** 31) * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

// ---------------------------------------------------------------- one store
async function runStore(store: 'memory' | 'redis'): Promise<void> {
  const keyv = store === 'memory' ? createMemoryStore(1_000_000) : await redisKeyv(`bench-${db}`);
  class Post extends CachedModel(Model, { store: keyv, prefix: `bench-${db}`, ttl: 3_600_000, missTtl: 3_600_000 }) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug', 'name'];
    declare id: number;
    declare slug: string;
    declare title: string;
    declare views: number;
  }
  Post.knex(knex);

  // The hand-written cache-aside of the low-level API tutorial: get, and on a miss query and set.
  const hand = store === 'memory' ? new Keyv() : await redisKeyv(`hand-${db}`);
  const handGet = async (slug: string) => {
    let post = await hand.get(slug);
    if (post === undefined) {
      post = (await Plain.query().findOne({ slug }))?.toJSON() ?? null;
      await hand.set(slug, post, 3_600_000);
    }
    return post;
  };
  const bento = new BentoCache({
    default: 'c',
    stores: {
      c: store === 'memory'
        ? bentostore().useL1Layer(memoryDriver({ maxItems: 1_000_000 }))
        : bentostore().useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port: redis!.port } })),
    },
  });
  const bentoGet = (slug: string) => bento.getOrSet({ key: `b:${db}:${slug}`, ttl: '1h', factory: async () => (await Plain.query().findOne({ slug }))?.toJSON() ?? null });

  let counter = 0;
  const cold = () => `post-${1 + (counter++ % ROWS)}`;

  // -------- baselines
  const uncachedFind = await measure(store, 'baseline', { name: 'uncached findOne', fn: () => Plain.query().findOne({ slug: 'post-42' }) });
  const uncachedMiss = await measure(store, 'baseline', { name: 'uncached findOne (absent)', fn: () => Plain.query().findOne({ slug: 'no-such-post' }) });
  await handGet('post-42');
  const handHit = await measure(store, 'baseline', { name: 'hand-written cache-aside hit', fn: () => handGet('post-42') });
  const handMiss = await measure(store, 'baseline', { name: 'hand-written cache-aside miss', fn: () => handGet('no-such-post') });
  let handSlug = '';
  const handCold = await measure(store, 'baseline', {
    name: 'hand-written cache-aside cold',
    beforeEach: async () => {
      handSlug = cold();
      await hand.delete(handSlug);
    },
    fn: () => handGet(handSlug),
  });
  await bentoGet('post-42');
  const bentoHit = await measure(store, 'baseline', { name: 'bentocache getOrSet hit', fn: () => bentoGet('post-42') });
  await bentoGet('no-such-post');
  const bentoMiss = await measure(store, 'baseline', { name: 'bentocache getOrSet miss (cached)', fn: () => bentoGet('no-such-post') });
  let bentoSlug = '';
  const bentoCold = await measure(store, 'baseline', {
    name: 'bentocache getOrSet cold',
    beforeEach: async () => {
      bentoSlug = cold();
      await bento.delete({ key: `b:${db}:${bentoSlug}` });
    },
    fn: () => bentoGet(bentoSlug),
  });
  const hundred = Array.from({ length: 100 }, (_, i) => `post-${1000 + i}`);
  const uncachedMany = await measure(store, 'baseline', { name: 'uncached whereIn(100)', fn: () => Plain.query().whereIn('slug', hundred) });
  const uncachedSave = await measure(store, 'baseline', { name: 'uncached save (patch by id)', fn: () => Plain.query().patch({ title: `t${counter++}` }).where('id', 7) });
  const uncachedBulk = await measure(store, 'baseline', {
    name: 'uncached bulk patch of 1,000 rows',
    fn: () => Plain.query().patch({ views: counter++ }).whereBetween('id', [20_001, 21_000]),
    countRuns: 5,
  });
  const uncachedStampede = await measure(store, 'baseline', {
    name: 'uncached 1,000 concurrent findOne',
    fn: () => Promise.all(Array.from({ length: 1000 }, () => Plain.query().findOne({ slug: 'post-99' }))),
    countRuns: 3,
  });

  // -------- cases
  await Post.get('post-42');
  const hot = await measure(store, 'case', { name: 'get (hit)', fn: () => Post.get('post-42') });
  // A tenant's class (bindKnex on a knex of its own) finds its database scope per call: interleaved with the
  // plain hit, since the difference is a few lookups. The second knex reads the same database, so it shares the entry.
  const Bound = Post.bindKnex(knex.withUserParams({ bench: 'tenant' }));
  await Bound.get('post-42');
  await measureInterleaved(
    store,
    { name: 'get (hit), interleaved', fn: () => Post.get('post-42') },
    { name: 'get (hit) through bindKnex(tenant knex)', fn: () => Bound.get('post-42') },
  );
  await Post.get('no-such-post');
  const miss = await measure(store, 'case', { name: 'get (cached miss)', fn: () => Post.get('no-such-post') });
  let coldSlug = '';
  const coldGet = await measure(store, 'case', {
    name: 'get (cold: miss, DB, fill)',
    beforeEach: async () => {
      coldSlug = cold();
      await Post.flush({ slug: coldSlug });
    },
    fn: () => Post.get(coldSlug),
  });
  await Post.getMany(hundred);
  const warmMany = await measure(store, 'case', { name: 'getMany(100) warm', fn: () => Post.getMany(hundred) });
  let coldHundred: string[] = [];
  const coldMany = await measure(store, 'case', {
    name: 'getMany(100) cold',
    beforeEach: async () => {
      coldHundred = Array.from({ length: 100 }, cold);
      await Post.flush(coldHundred.map((slug) => ({ slug })));
    },
    fn: () => Post.getMany(coldHundred),
  });
  const saved = (await Post.getById(7))!;
  const save = await measure(store, 'case', {
    name: 'save() (UPDATE and flush)',
    fn: async () => {
      saved.title = `t${counter++}`;
      await saved.save();
    },
  });
  const bulk = await measure(store, 'case', {
    name: 'bulk patch of 1,000 rows (and flush)',
    fn: () => Post.query().patch({ views: counter++ }).whereBetween('id', [20_001, 21_000]),
    countRuns: 5,
  });
  const stampede = await measure(store, 'case', {
    name: '1,000 concurrent get of one cold key',
    beforeEach: () => Post.flush({ slug: 'post-99' }),
    fn: () => Promise.all(Array.from({ length: 1000 }, () => Post.get('post-99'))),
    countRuns: 3,
  });

  // -------- cached queries: a page of a list, a count over the whole table, a findById through cacheQueries
  class QueryPost extends Post {
    static override cacheQueries = true;
  }
  const uncachedList = await measure(store, 'baseline', { name: 'uncached list query (20 rows)', fn: () => Plain.query().where('views', '>=', 0).orderBy('id').limit(20) });
  const list = () => Post.query().where('views', '>=', 0).orderBy('id').limit(20);
  // What a cached model costs a query that does not use the cache (no cache(), no cacheQueries): the builder's hook.
  const [plainFind, plainFindOnCached] = await measureInterleaved(
    store,
    { name: 'uncached findOne, interleaved', fn: () => Plain.query().findOne({ slug: 'post-42' }) },
    { name: 'findOne on a cached model, not cached', fn: () => Post.query().findOne({ slug: 'post-42' }) },
  );
  const [plainList, plainListOnCached] = await measureInterleaved(
    store,
    { name: 'uncached list query, interleaved', fn: () => Plain.query().where('views', '>=', 0).orderBy('id').limit(20) },
    { name: 'list query on a cached model, not cached', fn: list },
  );
  const handList = async () => {
    let hit = await hand.get('list');
    if (hit === undefined) {
      hit = (await Plain.query().where('views', '>=', 0).orderBy('id').limit(20)).map((p) => p.toJSON());
      await hand.set('list', hit, 3_600_000);
    }
    return hit;
  };
  await handList();
  const handListHit = await measure(store, 'baseline', { name: 'hand-written list cache hit', fn: handList });
  await list().cache();
  const listHit = await measure(store, 'case', { name: 'query().cache() list (warm)', fn: () => list().cache() });
  const listCold = await measure(store, 'case', {
    name: 'query().cache() list (cold: after a write)',
    beforeEach: () => Post.query().patch({ views: 0 }).where('id', 1),
    fn: () => list().cache(),
  });
  const uncachedCount = await measure(store, 'baseline', { name: 'uncached count(*) of 100,000 rows', fn: () => Plain.query().count('* as n').first() });
  await Post.query().count('* as n').first().cache();
  const countHit = await measure(store, 'case', { name: 'query().cache() count (warm)', fn: () => Post.query().count('* as n').first().cache() });
  const uncachedFindById = await measure(store, 'baseline', { name: 'uncached query().findById()', fn: () => Plain.query().findById(42) });
  await QueryPost.query().findById(42);
  const findById = await measure(store, 'case', { name: 'query().findById() with cacheQueries', fn: () => QueryPost.query().findById(42) });
  const fragment = () => cached('post-count', async () => Number(((await Plain.query().count('* as n').first()) as unknown as { n: number }).n), { dependsOn: [Post] });
  await fragment();
  const cachedHit = await measure(store, 'case', { name: 'cached() value (warm)', fn: fragment });

  // -------- mixed: 95% reads (Zipf over 10,000 slugs), 5% writes, 64 at a time
  const workload = (read: (slug: string) => PromiseLike<unknown>, write: (slug: string) => PromiseLike<unknown>) => {
    const rank = zipf(10_000, 1.0, 42);
    let seed = 7;
    return () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const slug = `post-${rank()}`;
      return seed / 2 ** 31 < 0.05 ? write(slug) : read(slug);
    };
  };
  const patchTitle = (slug: string) => Plain.query().patch({ title: `m${counter++}` }).where('slug', slug);
  const mixedUncached = await measureWorkload(store, 'baseline', 'mixed 95/5 Zipf, 64 concurrent: uncached', MIXED_OPS, 64,
    workload((slug) => Plain.query().findOne({ slug }), patchTitle));
  const mixedHand = await measureWorkload(store, 'baseline', 'mixed: hand-written cache-aside', MIXED_OPS, 64,
    workload(handGet, async (slug) => {
      await patchTitle(slug);
      await hand.delete(slug);
    }));
  const mixedBento = await measureWorkload(store, 'baseline', 'mixed: bentocache', MIXED_OPS, 64,
    workload(bentoGet, async (slug) => {
      await patchTitle(slug);
      await bento.delete({ key: `b:${db}:${slug}` });
    }));
  const mixed = await measureWorkload(store, 'case', 'mixed: objection-cache', MIXED_OPS, 64,
    workload((slug) => Post.get(slug), (slug) => Post.query().patch({ title: `m${counter++}` }).where('slug', slug)));

  // -------- a Redis outage: the server paused (SIGSTOP) under lookups made one after another. One lookup waits
  // out the store timeout (1 s by default); then the breaker sends every lookup straight to the DB.
  let outage: Row | undefined;
  if (store === 'redis' && redis) {
    process.kill(redis.process.pid!, 'SIGSTOP');
    try {
      outage = await measureSequential(store, 'get during a Redis outage (server paused)', OUTAGE_OPS, 100, (i) => Post.get(`post-${(i % 1000) + 1}`));
    } finally {
      process.kill(redis.process.pid!, 'SIGCONT');
    }
  }

  const ratio = (row: Row, baselines: Record<string, Row>) => {
    for (const [label, base] of Object.entries(baselines)) row.ratios[label] = row.opsPerSec / base.opsPerSec;
  };
  ratio(hot, { uncached: uncachedFind, 'hand-written': handHit, bentocache: bentoHit });
  ratio(miss, { uncached: uncachedMiss, 'hand-written': handMiss, bentocache: bentoMiss });
  ratio(coldGet, { uncached: uncachedFind, 'hand-written': handCold, bentocache: bentoCold });
  ratio(warmMany, { uncached: uncachedMany });
  ratio(coldMany, { uncached: uncachedMany });
  ratio(save, { uncached: uncachedSave });
  ratio(bulk, { uncached: uncachedBulk });
  ratio(stampede, { uncached: uncachedStampede });
  ratio(mixed, { uncached: mixedUncached, 'hand-written': mixedHand, bentocache: mixedBento });
  ratio(listHit, { uncached: uncachedList, 'hand-written': handListHit });
  ratio(listCold, { uncached: uncachedList });
  ratio(countHit, { uncached: uncachedCount });
  ratio(findById, { uncached: uncachedFindById });
  ratio(cachedHit, { uncached: uncachedCount });
  if (outage) ratio(outage, { uncached: uncachedFind });
  ratio(plainFindOnCached, { uncached: plainFind });
  ratio(plainListOnCached, { uncached: plainList });

  await bento.disconnectAll();
  if (store === 'redis') {
    await keyv.disconnect();
    await hand.disconnect();
  }
}

async function redisKeyv(namespace: string): Promise<Keyv> {
  const adapter = new KeyvRedis(redis!.url);
  await adapter.getClient();
  return new Keyv(adapter, { namespace });
}

// ---------------------------------------------------------------- run, report
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.log(`objection-cache benchmark: ${ROWS.toLocaleString('en')} posts, ${machine}\n`);
const sqlite = await openSqlite();
const postgres = await openPostgres();
for (const [name, connection] of [['sqlite', sqlite], ['postgres', postgres?.knex]] as const) {
  if (!connection) continue;
  useDatabase(name, connection);
  await runStore('memory');
  if (redis) await runStore('redis');
}

const md = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; ${ROWS.toLocaleString('en')} posts in a SQLite file${postgres ? ' and in PostgreSQL on loopback' : ''}${redis ? ', redis-server on loopback' : ''}.`,
  '',
  '| db | store | case | ops/s | p50 ms | p99 ms | DB queries/op | Redis commands/op | × uncached | × hand-written | × bentocache |',
  '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => {
    const x = (label: string) => (r.ratios[label] === undefined ? '' : `${r.ratios[label]!.toFixed(2)}`);
    const name = r.kind === 'baseline' ? `*${r.name}*` : `**${r.name}**`;
    return `| ${r.db} | ${r.store} | ${name} | ${fmt(r.opsPerSec)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.dbPerOp.toFixed(2)} | ${r.redisPerOp === null ? '' : r.redisPerOp.toFixed(2)} | ${x('uncached')} | ${x('hand-written')} | ${x('bentocache')} |`;
  }),
  '',
  'Ratios are ops/s of the case over ops/s of the baseline doing the same work (above 1: faster). Baselines are in italics.',
].join('\n');
writeFileSync(join(here, 'results.md'), `${md}\n`);
writeFileSync(join(here, 'results.json'), `${JSON.stringify({ date: new Date().toISOString(), machine, rows: ROWS, time: TIME, results: rows }, null, 2)}\n`);
writeFileSync(join(here, 'latency.svg'), await renderChart(rows));
console.log(`\n${md}\n\nwrote bench/results.json, bench/results.md, bench/latency.svg`);

await info?.quit();
await redis?.stop();
for (const baseline of baselineKnexes) await baseline.destroy();
await sqlite.destroy();
await postgres?.knex.destroy();
await postgres?.server.stop();
