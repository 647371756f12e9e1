import type Keyv from 'keyv';
import { hashTagOf } from '../core/keys.js';
import { keyvRedisOf } from '../core/internals.js';

export type Unlink = (keys: readonly string[]) => Promise<void>;

const UNLINK_BATCH = 10_000;

/**
 * A flush as single `UNLINK k1 k2 …` commands, one per hash tag (so one per model, and per cluster slot), for a
 * Keyv over `@keyv/redis`. Keyv's own `deleteMany` sends one UNLINK per key inside MULTI/EXEC: one round trip,
 * but 2 + N commands. Keys are prefixed exactly as Keyv and the adapter would. Any other store: undefined.
 */
export function redisUnlink(keyv: Keyv): Unlink | undefined {
  const redis = keyvRedisOf(keyv);
  if (!redis) return undefined;
  return async (keys) => {
    const byTag = new Map<string, string[]>();
    for (const key of redis.storedKeys(keys)) {
      const tag = hashTagOf(key);
      const group = byTag.get(tag);
      if (group) group.push(key);
      else byTag.set(tag, [key]);
    }
    const client = await redis.adapter.getClient();
    // A bulk write can flush hundreds of thousands of keys; node-redis passes a command's arguments on the stack,
    // so each UNLINK takes at most UNLINK_BATCH of them (sent together: still one round trip).
    const batches = [...byTag.values()].flatMap((group) =>
      Array.from({ length: Math.ceil(group.length / UNLINK_BATCH) }, (_, i) => group.slice(i * UNLINK_BATCH, (i + 1) * UNLINK_BATCH)),
    );
    await Promise.all(batches.map((batch) => client.unlink(batch)));
  };
}
