// How stale can the local tier (`localCache`) be across processes? After process A's write returns, process B
// serves its local copy until it has processed the invalidation Redis pushes to it. This process writes one hot
// row over and over; a forked reader (bench/staleness-reader.ts) reads it with a local tier and records when each
// read began and which version it got; on one clock, the two show how long after each write old versions were
// still served.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import {
  clock,
  definePost,
  openKeyv,
  openKnex,
  yieldToEventLoop,
  type PostClass,
  type ReaderJob,
  type ReaderMessage,
  type StopMessage,
  type StoreKind,
} from './staleness-reader.js';

export interface StalenessResult {
  store: StoreKind;
  writes: number;
  reads: number;
  /** Reads that got a version older than a write that had returned before they began. */
  staleReads: number;
  /** Per write: how long after it returned the reader still began reads that got an older version (0 if never). */
  windowMs: { p50: number; p99: number; max: number };
}

const READER = join(import.meta.dirname, 'staleness-reader.ts');
const ROWS = 10;

/** The reads of one run, as the reader sent them: read i began at starts[i] and got version versions[i]. */
interface Reads {
  readonly starts: Float64Array;
  readonly versions: Int32Array;
}

/**
 * Runs `writes` writes of a hot row in this process against a reader process with a local tier, both on the
 * given Redis (one server, or the nodes of a cluster) and one SQLite file, and measures the reader's staleness.
 */
export async function measureStaleness(store: StoreKind, redisUrls: readonly string[], writes: number): Promise<StalenessResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oc-staleness-'));
  try {
    const job: ReaderJob = { store, redisUrls, namespace: `stale${randomBytes(4).toString('hex')}`, dbFile: join(dir, 'posts.sqlite') };
    return summarise(store, ...(await runWriter(job, writes)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Makes the database, starts the reader, writes, and answers when each write returned and what the reader read. */
async function runWriter(job: ReaderJob, writes: number): Promise<[Float64Array, Reads]> {
  const keyv = await openKeyv(job.store, job.redisUrls, job.namespace);
  const knex = openKnex(job.dbFile);
  try {
    await createPosts(knex);
    const Post = definePost(keyv, knex, false);
    const reader = startReader(job);
    try {
      await reader.ready();
      const returnedAt = await writeHot(Post, writes);
      return [returnedAt, await reader.stop(writes)];
    } finally {
      reader.end();
    }
  } finally {
    await keyv.disconnect();
    await knex.destroy();
  }
}

/** The posts table with a hot row and a few others. WAL, so the reader's queries do not wait on the writer's. */
async function createPosts(knex: Knex): Promise<void> {
  await knex.raw('PRAGMA journal_mode = WAL');
  await knex.schema.createTable('posts', (table) => {
    table.increments('id');
    table.string('slug').notNullable().unique();
    table.integer('views').notNullable().defaultTo(0);
  });
  await knex('posts').insert([{ slug: 'hot' }, ...Array.from({ length: ROWS - 1 }, (_, i) => ({ slug: `cold-${i + 1}` }))]);
}

/**
 * Writes version 1..writes of the hot row (its views), one after the other, and returns when each write's
 * `await` returned, indexed by version. Yields between writes so that the reader's reads interleave with them.
 */
async function writeHot(Post: PostClass, writes: number): Promise<Float64Array> {
  const returnedAt = new Float64Array(writes + 1); // [0]: version 0 is the seeded row, never written
  for (let version = 1; version <= writes; version++) {
    await Post.query().patch({ views: version }).where('slug', 'hot');
    returnedAt[version] = clock();
    await yieldToEventLoop();
  }
  return returnedAt;
}

interface Reader {
  /** Resolves once the reader's local tier is warm. */
  ready(): Promise<void>;
  /** Tells the reader the writes are done and waits for its reads and its clean exit. */
  stop(lastVersion: number): Promise<Reads>;
  /** Kills the reader if it is still running (after an error). */
  end(): void;
}

function startReader(job: ReaderJob): Reader {
  // 'advanced' serialization sends the typed arrays of reads as they are (JSON would make objects of them).
  const child = fork(READER, [JSON.stringify(job)], { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
  const exited = exitOf(child);
  const ready = nextMessage(child, 'ready');
  return {
    async ready() {
      await ready;
    },
    async stop(lastVersion) {
      const records = nextMessage(child, 'records');
      child.send({ type: 'stop', lastVersion } satisfies StopMessage);
      const { starts, versions } = await records;
      const code = await exited;
      if (code !== 0) throw new Error(`the reader exited with ${code}`);
      return { starts, versions };
    },
    end() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The reader's next message of `type`; rejects if the reader exits (or cannot be reached) first. */
function nextMessage<T extends ReaderMessage['type']>(child: ChildProcess, type: T): Promise<Extract<ReaderMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (message: ReaderMessage) => {
      if (message.type !== type) return;
      settle();
      resolve(message as Extract<ReaderMessage, { type: T }>);
    };
    const onExit = (code: number | null) => {
      settle();
      reject(new Error(`the reader exited with ${code} before it sent '${type}'`));
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

function summarise(store: StoreKind, returnedAt: Float64Array, reads: Reads): StalenessResult {
  const writes = returnedAt.length - 1;
  checkCaughtUp(returnedAt, reads);
  const windows = windowsPerWrite(returnedAt, reads).sort();
  return {
    store,
    writes,
    reads: reads.starts.length,
    staleReads: countStale(returnedAt, reads),
    windowMs: { p50: percentile(windows, 50), p99: percentile(windows, 99), max: windows[windows.length - 1] ?? 0 },
  };
}

/** The reader stops once it sees the last version, or gives up: then an invalidation did not reach it. */
function checkCaughtUp(returnedAt: Float64Array, { starts, versions }: Reads): void {
  const writes = returnedAt.length - 1;
  const last = versions.length - 1;
  if (versions[last] !== writes) {
    const after = (starts[last]! - returnedAt[writes]!).toFixed(0);
    throw new Error(`the reader still read version ${versions[last]} ${after} ms after write ${writes} returned: an invalidation was lost`);
  }
}

/**
 * A read that began at s and got version v is stale when a newer write had returned before s. Writes return in
 * order, so that is when write v + 1 had.
 */
function countStale(returnedAt: Float64Array, { starts, versions }: Reads): number {
  let stale = 0;
  for (let i = 0; i < starts.length; i++) {
    const next = versions[i]! + 1;
    if (next < returnedAt.length && returnedAt[next]! < starts[i]!) stale++;
  }
  return stale;
}

/**
 * window_j (j = 1..writes) = max over reads that got a version < j and began after write j returned, of how long
 * after it they began; 0 when there are none. The latest start among reads of versions < j is a running max over
 * versions, so every window takes one pass over the reads and one over the writes.
 */
function windowsPerWrite(returnedAt: Float64Array, { starts, versions }: Reads): Float64Array {
  const writes = returnedAt.length - 1;
  const latestStart = new Float64Array(writes + 1).fill(-Infinity); // per version: the last read that got it
  for (let i = 0; i < starts.length; i++) latestStart[versions[i]!] = Math.max(latestStart[versions[i]!]!, starts[i]!);
  const windows = new Float64Array(writes);
  let latestOlder = -Infinity; // the last read that got a version < j
  for (let j = 1; j <= writes; j++) {
    latestOlder = Math.max(latestOlder, latestStart[j - 1]!);
    windows[j - 1] = Math.max(0, latestOlder - returnedAt[j]!);
  }
  return windows;
}

/** Nearest rank, over values sorted ascending. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
