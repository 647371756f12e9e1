// One "app server" of test/processes.test.ts: its own Redis client and DB pool, reading and writing shared rows.
import KeyvRedis, { createClient } from '@keyv/redis';
import knexPkg from 'knex';
import Keyv from 'keyv';
import { Model, raw } from 'objection';
import { CachedModel } from 'objection-cache';

interface Job {
  redisUrl: string;
  /** The DB every worker shares: knex's client name (`pg`, `mysql2`) and connection. */
  db: { client: string; connection: { host: string; port: number; user: string; database: string } };
  index: number;
  workers: number;
  rows: number;
  ops: number;
  seed: number;
  /** Keyv namespace and published-version prefix of this run. */
  namespace: string;
  /** Run with a local tier: reads may be older than a write that returned less than `boundMs` before. */
  localCache?: { maxEntries: number; ttl: number; boundMs: number };
}

const job = JSON.parse(process.argv[2]!) as Job;
let seed = job.seed;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

const adapter = new KeyvRedis(job.redisUrl);
await adapter.getClient();
const store = new Keyv(adapter, { namespace: job.namespace });
const published = createClient({ url: job.redisUrl });
await published.connect();
const knex = knexPkg({ client: job.db.client, connection: job.db.connection, pool: { min: 1, max: 4 } });

const localCache = job.localCache && { maxEntries: job.localCache.maxEntries, ttl: job.localCache.ttl };
class Post extends CachedModel(Model, { store, ...(localCache ? { localCache } : {}) }) {
  static override tableName = 'posts';
  static override cacheKeys = ['slug'];
  declare id: number;
  declare slug: string;
  declare views: number;
}
Post.knex(knex);

// This process writes only its own rows, so it knows each one's version (views) after every write it makes.
const mine = Array.from({ length: job.rows }, (_, i) => i + 1).filter((id) => id % job.workers === job.index);
const version = new Map(mine.map((id) => [id, 0]));
const stats = { reads: 0, writes: 0, violations: [] as string[], staleWithinBound: 0, maxStaleAgeMs: 0 };

for (let op = 0; op < job.ops; op++) {
  if (random() < 0.2) {
    const id = mine[Math.floor(random() * mine.length)]!;
    const next = version.get(id)! + 1;
    if (random() < 0.5) {
      await Post.query()
        .patch({ views: raw('views + 1') as never })
        .where('id', id);
    } else {
      await Post.transaction(async (trx) => {
        const row = (await Post.query(trx).findById(id))!;
        await row.$query(trx).patch({ views: row.views + 1 });
      });
    }
    version.set(id, next);
    // The write has returned (after its commit and flush): from now on no process may read an older version.
    await published.set(`${job.namespace}-min:${id}`, `${next}:${Date.now()}`);
    stats.writes++;
  } else {
    const id = 1 + Math.floor(random() * job.rows);
    const [floorText, writtenAt] = ((await published.get(`${job.namespace}-min:${id}`)) ?? '0:0').split(':');
    const floor = Number(floorText);
    const started = Date.now();
    const how = random();
    const post =
      how < 0.4 ? await Post.getById(id) : how < 0.8 ? await Post.get(`p${id}`) : (await Post.getMany([`p${id}`, `p${1 + ((id + 1) % job.rows)}`]))[0];
    if (!post || post.views < floor) {
      // how long before this read began had the newer version's write returned?
      const age = started - Number(writtenAt);
      if (post && job.localCache && age <= job.localCache.boundMs) {
        stats.staleWithinBound++;
        stats.maxStaleAgeMs = Math.max(stats.maxStaleAgeMs, age);
      } else {
        stats.violations.push(`row ${id}: read ${post?.views} after ${floor} was written ${age} ms before`);
      }
    }
    stats.reads++;
  }
}

process.send!(stats);
await published.quit();
await store.disconnect();
await knex.destroy();
