import { clientSideCacheBase, clientSideCacheOf, type ClientSideCacheHooks, type KeyvRedis, type NodeRedisClient } from '../core/internals.js';

/** What a tracking connection tells the local tier. */
export interface InvalidationListener {
  /** `key` (as the cache names it) changed, expired or was deleted in Redis. */
  invalidate(key: string): void;
  /** Invalidations may have been missed (a connection broke, the cluster is being rediscovered, FLUSHALL): forget all. */
  forgetAll(): void;
}

/** A RESP3 connection (one per node on a cluster) whose reads Redis tracks, and whose invalidations it hears. */
export interface Tracking {
  /** The connection, once connected. */
  /** The connection, at once once it is open (node-redis reconnects it from then on), else opening it. */
  readonly client: () => NodeRedisClient | Promise<NodeRedisClient>;
  close(): Promise<void>;
}

/**
 * Opens the tracking connection of a Keyv over `@keyv/redis`: a duplicate of the adapter's client (same server
 * or cluster, same credentials) speaking RESP3, where every connection turns `CLIENT TRACKING ON` in its
 * handshake, so also after every reconnect. Redis then pushes the name of every key this connection read, once,
 * when that key is written, deleted, expires or is evicted. node-redis delivers those pushes, and every broken
 * connection or cluster rediscovery, to a client-side cache provider: ours caches nothing itself and hands them
 * on. Throws when node-redis' provider class cannot be found or the client did not take ours.
 */
export function openTracking(redis: KeyvRedis, listener: InvalidationListener): Tracking {
  const Base = clientSideCacheBase();
  if (!Base) throw new Error('objection-cache: localCache needs @redis/client 5 (the client of @keyv/redis), which was not found');
  const prefix = redis.storedPrefix;
  class Invalidations extends Base {
    override invalidate(key: unknown): void {
      if (key === null) return listener.forgetAll();
      const stored = String(key);
      if (stored.startsWith(prefix)) listener.invalidate(stored.slice(prefix.length));
    }
    override clear(): void {
      listener.forgetAll();
    }
    override onError(): void {
      listener.forgetAll();
    }
    override onClose(): void {
      listener.forgetAll();
    }
    override disable(): void {
      listener.forgetAll();
    }
    override enable(): void {
      // nothing kept while disabled: entries come back from reads made after it
    }
    override async handleCache(
      _client: unknown,
      parser: unknown,
      fn: () => Promise<unknown>,
      transformReply?: unknown,
      typeMapping?: unknown,
    ): Promise<unknown> {
      // node-redis would keep the reply; the local tier keeps decoded entries of its own
      const reply = await fn();
      return typeof transformReply === 'function'
        ? (transformReply as (...args: unknown[]) => unknown)(reply, (parser as { preserve?: unknown }).preserve, typeMapping)
        : reply;
    }
  }
  const provider: ClientSideCacheHooks = new Invalidations({ maxEntries: 1 });
  let connecting: Promise<NodeRedisClient> | undefined;
  let opened: NodeRedisClient | undefined;
  let closed = false;
  const open = async (): Promise<NodeRedisClient> => {
    const source = await redis.adapter.getClient();
    const client = source.duplicate({ RESP: 3, clientSideCache: provider });
    if (clientSideCacheOf(client) !== provider) {
      throw new Error('objection-cache: localCache could not attach to the Redis client (another copy of @redis/client?)');
    }
    // node-redis throws an `error` event no one listens to; the provider hears the same failures
    client.on('error', () => listener.forgetAll());
    try {
      await client.connect();
    } catch (error) {
      await shut(client);
      throw error;
    }
    client.unref?.();
    opened = client;
    if (closed) await shut(client);
    return client;
  };
  return {
    // a connection that never opened is tried again by the next read; once open, node-redis reconnects it
    client: () =>
      opened ??
      (connecting ??= open().catch((error: unknown) => {
        connecting = undefined;
        throw error;
      })),
    async close() {
      closed = true;
      listener.forgetAll();
      if (opened) await shut(opened);
    },
  };
}

async function shut(client: NodeRedisClient): Promise<void> {
  try {
    if (client.close) await client.close();
    else client.destroy?.();
  } catch {
    // already closed
  }
}
