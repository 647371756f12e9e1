import { hashTagOf } from '../core/keys.js';
import { adapterClient, fromKeyvEnvelope, toKeyvEnvelope, type KeyvRedis, type NodeRedisClient } from '../core/internals.js';
import type { StoreDriver, StoreEntry } from './driver.js';
import { OpenedEnvelopes } from './opened-envelopes.js';
import { PrefixedKeys } from './prefixed-keys.js';

/**
 * Where a driver's commands go: the adapter's client, or (reads of the local tier) a tracking connection. An open
 * client comes back at once: awaiting a promise for it cost a hit two promise turns.
 */
export type ClientSource = () => NodeRedisClient | Promise<NodeRedisClient>;

// A bulk write can flush hundreds of thousands of keys; node-redis passes a command's arguments on the stack, so
// each command takes at most this many keys (all sent in the same tick: still one round trip).
const KEYS_PER_COMMAND = 5_000;

/**
 * A Keyv over `@keyv/redis`, driven through the adapter's node-redis client: one MGET per read (per hash tag on a
 * cluster), SETs sent together (no MULTI: each entry stands alone), one UNLINK per hash tag for deletions, and a
 * read that creates missing tokens in the same round trip (`readCreating`). Keys are prefixed and values wrapped (Keyv's envelope)
 * exactly as Keyv would, so a Keyv, and a release of this library reading through Keyv, read what it writes. It
 * skips Keyv's per-call work: hooks other than `preDelete`, statistics, a promise and a JSON revival per key.
 */
export class RedisDriver implements StoreDriver {
  readonly kind = 'redis';
  private readonly redis: KeyvRedis;
  private readonly reader: ClientSource;
  private readonly writer: ClientSource;

  constructor(redis: KeyvRedis, reader?: ClientSource) {
    this.redis = redis;
    this.writer = () => adapterClient(redis.adapter);
    this.reader = reader ?? this.writer;
  }

  /** The same store, read through `reader` (a tracking connection) and written as before. */
  readingThrough(reader: ClientSource): RedisDriver {
    return new RedisDriver(this.redis, reader);
  }

  getMany(keys: readonly string[]): Promise<readonly unknown[]> {
    return withClient(this.reader, (client) => this.read(client, keys));
  }

  private read(client: NodeRedisClient, keys: readonly string[]): Promise<readonly unknown[]> {
    const command = this.mgetCommand(keys);
    return this.mget(client, command).then((reply) => this.openReply(command, reply));
  }

  /** The values of the reply to an MGET `command`, opened in place: the reply array is ours, and a hit makes no second one. */
  private openReply(command: readonly string[], reply: (string | null)[]): unknown[] {
    const now = Date.now();
    const values: unknown[] = reply;
    for (let i = 0; i < reply.length; i++) values[i] = this.opened.valueOf(command[i + 1]!, reply[i] ?? null, now);
    return values;
  }

  async setMany(entries: readonly StoreEntry[]): Promise<void> {
    const stored = this.redis.storedKeys(entries.map((entry) => entry.key));
    const client = await this.writer();
    const now = Date.now();
    await Promise.all(
      entries.map(({ value, ttl }, i) =>
        ttl ? client.set(stored[i]!, toKeyvEnvelope(value, now + ttl), { PX: ttl }) : client.set(stored[i]!, toKeyvEnvelope(value, undefined)),
      ),
    );
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.redis.announceDelete(keys);
    const stored = this.redis.storedKeys(keys);
    const client = await this.writer();
    // one UNLINK per hash tag: every key of one command in one slot, on a cluster and a single node alike
    await Promise.all(batches(byTag(stored), KEYS_PER_COMMAND).map((batch) => client.unlink(batch)));
  }

  /**
   * One round trip: the MGET of every key, and beside it a `SET key value NX GET` for each key with a value to
   * create. The MGET reads what is there (and is what the local tier's tracking connection must see, to be told
   * of changes); each SET creates its key only if absent and answers what was there. Nothing is written for a
   * key that exists, so a hit costs one native command per token beside its MGET, well under a Lua script's
   * per-call cost on the server (measured: 0.3 µs per SET against 15 µs per EVALSHA on this 2-core machine).
   * The pipeline is not atomic, and need not be: a token another process creates or a flush deletes between
   * the MGET and the SET leaves this read stamped with a token that is not the current one, so its fill is
   * never served, which is the race guard's rule.
   */
  readonly readCreating = (keys: readonly string[], created: readonly (string | undefined)[], ttl: number): Promise<readonly unknown[]> =>
    withClient(this.reader, (client) =>
      created.every((offer) => offer === undefined) ? this.read(client, keys) : this.readAndCreate(client, keys, created, ttl),
    );

  private async readAndCreate(
    client: NodeRedisClient,
    keys: readonly string[],
    created: readonly (string | undefined)[],
    ttl: number,
  ): Promise<readonly unknown[]> {
    const command = this.mgetCommand(keys);
    const now = Date.now();
    const expires = ttl ? now + ttl : undefined;
    const options = ttl ? { NX: true, GET: true, PX: ttl } : { NX: true, GET: true };
    const offers = created.map((value) => (value === undefined ? undefined : toKeyvEnvelope(value, expires)));
    const [values, previous] = await Promise.all([
      this.mget(client, command),
      Promise.all(offers.map((offer, i) => (offer === undefined ? undefined : (client.set(command[i + 1]!, offer, options) as Promise<string | null>)))),
    ]);
    return values.map((value, i) => {
      const offer = offers[i];
      // absent when read: the SET answered what another process put there meanwhile, or nothing (ours is in)
      const current = value ?? (offer === undefined ? null : (previous[i] ?? offer));
      return fromKeyvEnvelope(current, now);
    });
  }

  /** Stored keys of keys read lately: a hot key's read builds no string. Writes use `redis.storedKeys`. */
  private readonly prefixed = new PrefixedKeys();
  /** Envelopes read lately, opened: a hot key's read parses no envelope. */
  private readonly opened = new OpenedEnvelopes();

  /** `MGET` and the stored keys of `keys`: the command a single node is sent as it is, the keys from index 1. */
  private mgetCommand(keys: readonly string[]): string[] {
    const prefix = this.redis.storedPrefix;
    const command = new Array<string>(keys.length + 1);
    command[0] = 'MGET';
    for (let i = 0; i < keys.length; i++) command[i + 1] = this.prefixed.of(prefix, keys[i]!);
    return command;
  }

  /**
   * The values of the keys of an MGET `command`, in key order: one MGET on a single node, one per hash tag (and
   * per `KEYS_PER_COMMAND`) on a cluster. A single node gets it through `sendCommand`: node-redis's `mGet` method builds a command parser
   * and awaits once more, which measured 1–2 µs of a 50 µs hit, before and after the round trip.
   */
  private mget(client: NodeRedisClient, command: string[]): Promise<(string | null)[]> {
    const cluster = this.redis.adapter.isCluster();
    if (!cluster && command.length <= KEYS_PER_COMMAND + 1) return client.sendCommand(command) as Promise<(string | null)[]>;
    return this.inSlots(command.slice(1), cluster, (group) => client.mGet(group));
  }

  private async inSlots(stored: string[], cluster: boolean, command: (group: string[]) => Promise<(string | null)[]>): Promise<(string | null)[]> {
    const groups = batches(cluster ? byTag(stored) : [stored], KEYS_PER_COMMAND);
    const answers = await Promise.all(groups.map(command));
    const byKey = new Map<string, string | null>();
    groups.forEach((group, i) => group.forEach((key, j) => byKey.set(key, answers[i]![j] ?? null)));
    return stored.map((key) => byKey.get(key) ?? null);
  }
}

/** `use` of the source's client: at once when it is open (an `await` of the client itself would cost a turn). */
function withClient<T>(source: ClientSource, use: (client: NodeRedisClient) => Promise<T>): Promise<T> {
  const client = source();
  return client instanceof Promise ? client.then(use) : use(client);
}

function byTag(stored: readonly string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const key of stored) {
    const tag = hashTagOf(key);
    const group = groups.get(tag);
    if (group) group.push(key);
    else groups.set(tag, [key]);
  }
  return [...groups.values()];
}

function batches(groups: readonly string[][], size: number): string[][] {
  return groups.flatMap((group) => chunks(group.length, size).map(([from, to]) => group.slice(from, to)));
}

function chunks(length: number, size: number): [number, number][] {
  return Array.from({ length: Math.ceil(length / size) }, (_, i) => [i * size, Math.min(length, (i + 1) * size)]);
}
