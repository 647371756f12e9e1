import type Keyv from 'keyv';

/** What the fast path needs of `@keyv/redis`'s adapter and its client (node-redis, single or cluster). */
interface RedisAdapter {
  namespace?: string;
  getClient(): Promise<{ unlink(keys: string[]): Promise<number> }>;
  createKeyPrefix(key: string, namespace?: string): string;
}

interface KeyvInternals {
  _getKeyPrefixArray?(keys: string[]): string[];
  hooks?: { trigger(event: string, data: unknown): void };
}

export type Unlink = (keys: readonly string[]) => Promise<void>;

const UNLINK_BATCH = 10_000;

/**
 * A flush as single `UNLINK k1 k2 …` commands, one per hash tag (so one per model, and per cluster slot), for a
 * Keyv over `@keyv/redis`. Keyv's own `deleteMany` sends one UNLINK per key inside MULTI/EXEC: one round trip,
 * but 2 + N commands. Keys are prefixed exactly as Keyv and the adapter would. Any other store: undefined.
 */
export function redisUnlink(keyv: Keyv): Unlink | undefined {
  const adapter = keyv.store as Partial<RedisAdapter> | undefined;
  const prefixArray = (keyv as unknown as KeyvInternals)._getKeyPrefixArray;
  if (!adapter || typeof adapter.getClient !== 'function' || typeof adapter.createKeyPrefix !== 'function' || typeof prefixArray !== 'function') {
    return undefined;
  }
  const redis = adapter as RedisAdapter;
  const hooks = (keyv as unknown as KeyvInternals).hooks;
  return async (keys) => {
    const keyvKeys = prefixArray.call(keyv, [...keys]);
    // Keyv's own delete and deleteMany announce themselves to its preDelete hooks; so does this.
    hooks?.trigger('preDelete', { key: keyvKeys.length === 1 ? keyvKeys[0] : keyvKeys });
    const prefixed = keyvKeys.map((key) => redis.createKeyPrefix(key, redis.namespace));
    const byTag = new Map<string, string[]>();
    for (const key of prefixed) {
      const tag = /\{([^}]*)\}/.exec(key)?.[1] ?? key;
      const group = byTag.get(tag);
      if (group) group.push(key);
      else byTag.set(tag, [key]);
    }
    const client = await redis.getClient();
    // A bulk write can flush hundreds of thousands of keys; node-redis passes a command's arguments on the stack,
    // so each UNLINK takes at most UNLINK_BATCH of them (sent together: still one round trip).
    const batches = [...byTag.values()].flatMap((group) =>
      Array.from({ length: Math.ceil(group.length / UNLINK_BATCH) }, (_, i) => group.slice(i * UNLINK_BATCH, (i + 1) * UNLINK_BATCH)),
    );
    await Promise.all(batches.map((batch) => client.unlink(batch)));
  };
}
