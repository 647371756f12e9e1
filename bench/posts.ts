// The models every case measures, the hand-written cache-aside they are compared with, and the Keyv on Redis both
// read through: shared by run.ts and hit-process.ts.
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { Model } from 'objection';
import { CachedModel, type CacheOptions } from 'objection-cache';

export class PlainPost extends Model {
  static override tableName = 'posts';
  declare id: number;
  declare slug: string;
  declare title: string;
  declare views: number;
}

/**
 * The cached model on one store; the prefix names the database, so both databases' entries can share one Redis.
 * `mixin` is the library's `CachedModel`, or another copy's (run.ts `secondCopyOfLibrary`).
 */
export function definePost(keyv: Keyv, db: string, options: CacheOptions = {}, mixin: typeof CachedModel = CachedModel) {
  class Post extends mixin(Model, { store: keyv, prefix: `bench-${db}`, ttl: 3_600_000, missTtl: 3_600_000, ...options }) {
    static override tableName = 'posts';
    static override cacheKeys = ['slug', 'name'];
    declare id: number;
    declare slug: string;
    declare title: string;
    declare views: number;
  }
  return Post;
}
export type PostClass = ReturnType<typeof definePost>;

/**
 * The hand-written cache-aside of Keyv's low-level API tutorial, on `keyv`: get, and on a miss query and set.
 * `prefix` keeps apart the keys of several such caches on one Keyv.
 */
export function handWritten(keyv: Keyv, Plain: typeof PlainPost, prefix = ''): (slug: string) => Promise<unknown> {
  return async (slug) => {
    const key = prefix + slug;
    let post = await keyv.get(key);
    if (post === undefined) {
      post = (await Plain.query().findOne({ slug }))?.toJSON() ?? null;
      await keyv.set(key, post, 3_600_000);
    }
    return post;
  };
}

/** A Keyv on the Redis at `url`, its client connected, under `namespace`. */
export async function redisKeyv(url: string, namespace: string): Promise<Keyv> {
  const adapter = new KeyvRedis(url);
  await adapter.getClient();
  return new Keyv(adapter, { namespace });
}
