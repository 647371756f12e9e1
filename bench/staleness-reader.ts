// The reading process of bench/staleness.ts: an "app server" with the local tier on, reading one hot row while
// another process writes it, and recording when each read began and which version of the row it got.
//
// It also holds what both processes share (the job, the messages, how to connect and how Post is defined), so the
// writer and the reader cannot drift apart; its own work runs only when it is the forked entry point.
import KeyvRedis from '@keyv/redis';
import knexPkg, { type Knex } from 'knex';
import Keyv from 'keyv';
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';
import { performance } from 'node:perf_hooks';

export type StoreKind = 'redis' | 'cluster';

/** What the writer hands the reader (as JSON, in argv): the same Redis namespace and SQLite file as its own. */
export interface ReaderJob {
  readonly store: StoreKind;
  readonly redisUrls: readonly string[];
  readonly namespace: string;
  readonly dbFile: string;
}

/** Writer to reader: the writes are done, `lastVersion` is the newest one. */
export interface StopMessage {
  readonly type: 'stop';
  readonly lastVersion: number;
}

/** Reader to writer: its local tier is warm, or (after `stop`) every read it made, in order. */
export type ReaderMessage = { readonly type: 'ready' } | { readonly type: 'records'; readonly starts: Float64Array; readonly versions: Int32Array };

/**
 * How long the reader keeps reading after `stop` for the last version to show up. The local entry lives for the
 * tier's ttl (60 s) unless an invalidation drops it, so a reader still behind after this has lost one.
 */
const CATCH_UP_MS = 5_000;

/**
 * A clock both processes agree on, in ms with sub-ms precision: `performance.now()` alone counts from each
 * process' own start, `Date.now()` has whole ms only.
 */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Lets the event loop run I/O callbacks before the next read. A server reads in response to requests, i.e. from
 * I/O; a loop of reads that never yields would never process Redis' invalidation pushes either, and its local
 * copy would look stale forever.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A Keyv over one Redis or a Redis Cluster, connected. */
export async function openKeyv(store: StoreKind, redisUrls: readonly string[], namespace: string): Promise<Keyv> {
  const adapter = store === 'redis' ? new KeyvRedis(redisUrls[0]!) : new KeyvRedis({ rootNodes: redisUrls.map((url) => ({ url })) });
  // @keyv/redis connects lazily, and concurrent first commands race to connect.
  await adapter.getClient();
  return new Keyv(adapter, { namespace });
}

export function openKnex(dbFile: string): Knex {
  return knexPkg({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
}

/** The model both processes use; only the reader keeps a local tier, since only its staleness is measured. */
export function definePost(keyv: Keyv, knex: Knex, reader: boolean) {
  class Post extends CachedModel(Model, { store: keyv, ...(reader ? { localCache: { maxEntries: 10_000, ttl: 60_000 } } : {}) }) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug'];
    declare views: number;
  }
  Post.knex(knex);
  return Post;
}

export type PostClass = ReturnType<typeof definePost>;

/** Start times and versions of reads, in typed arrays that grow: a run makes hundreds of thousands of reads. */
class Reads {
  starts = new Float64Array(1 << 16);
  versions = new Int32Array(1 << 16);
  count = 0;

  push(start: number, version: number): void {
    if (this.count === this.starts.length) this.grow();
    this.starts[this.count] = start;
    this.versions[this.count] = version;
    this.count++;
  }

  private grow(): void {
    const starts = new Float64Array(this.starts.length * 2);
    const versions = new Int32Array(this.versions.length * 2);
    starts.set(this.starts);
    versions.set(this.versions);
    this.starts = starts;
    this.versions = versions;
  }
}

async function readHot(Post: PostClass): Promise<number> {
  const post = await Post.get('hot');
  if (!post) throw new Error('the hot row was not found');
  return post.views;
}

/**
 * Reads until the local tier serves the row (a fill's own write comes back as an invalidation, so the first
 * reads may not keep it): the measured reads then start from a hot local entry, as on a busy server.
 */
async function warm(Post: PostClass): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await readHot(Post);
    await yieldToEventLoop();
  }
}

/** Reads until told to stop and the last version was seen (or CATCH_UP_MS passed, which the writer reports). */
async function readUntilStopped(Post: PostClass, stopped: () => { lastVersion: number; at: number } | undefined): Promise<Reads> {
  const reads = new Reads();
  for (;;) {
    const start = clock();
    const version = await readHot(Post);
    reads.push(start, version);
    const stop = stopped();
    if (stop && (version === stop.lastVersion || start - stop.at > CATCH_UP_MS)) return reads;
    await yieldToEventLoop();
  }
}

function send(message: ReaderMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())));
}

async function main(job: ReaderJob): Promise<void> {
  const keyv = await openKeyv(job.store, job.redisUrls, job.namespace);
  const knex = openKnex(job.dbFile);
  const Post = definePost(keyv, knex, true);
  let stop: { lastVersion: number; at: number } | undefined;
  process.on('message', (message: StopMessage) => (stop = { lastVersion: message.lastVersion, at: clock() }));
  await warm(Post);
  await send({ type: 'ready' });
  const reads = await readUntilStopped(Post, () => stop);
  await send({ type: 'records', starts: reads.starts.slice(0, reads.count), versions: reads.versions.slice(0, reads.count) });
  await keyv.disconnect();
  await knex.destroy();
  // The IPC channel would keep this process alive.
  process.disconnect();
}

if (process.argv[1] === import.meta.filename) await main(JSON.parse(process.argv[2]!) as ReaderJob);
