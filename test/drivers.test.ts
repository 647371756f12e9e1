import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Keyv from 'keyv';
import { MapAdapter } from './helpers/counting-keyv.js';
import { makeFixture, makePostClass } from './helpers/fixture.js';
import { makeStore, redisCluster, redisServer, storedKeys, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

const run = promisify(execFile);

// The drivers read and write each store natively, in the format Keyv itself uses: a rolling deploy, whose
// previous release reads and writes through Keyv, and the app's own use of its Keyv must see the same entries.

for (const kind of ['redis', 'cluster'] as const satisfies readonly StoreKind[]) {
  test(`rolling deploy: what the Redis driver writes, Keyv reads as it wrote it, and back [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind });
    await f.Post.get('post-1'); // filled natively
    const keys = (await storedKeys(f.store, kind)).map((key) => key.slice(key.indexOf('{')));
    t.true(keys.length >= 3, `entry, guard and generation: ${keys.join(', ')}`);
    const throughKeyv: unknown[] = await f.store.getMany(keys);
    t.true(
      throughKeyv.every((value) => typeof value === 'string' && value.length > 0),
      'Keyv (the previous release) reads every key as the string the cache stored',
    );
    // the previous release's fill: the same strings written back through Keyv's setMany, with a ttl
    await f.store.setMany(keys.map((key, i) => ({ key, value: throughKeyv[i] as string, ttl: 60_000 })));
    f.reset();
    t.is((await f.Post.get('post-1'))?.title, 'Title 1');
    t.is(f.selects().length, 0, 'the Redis driver reads what Keyv wrote as a hit');
  });

  test.serial(`a hit is one MGET; a cold read creates its tokens in the same round trip, again after a flush [${kind}]`, async (t) => {
    const f = await makeFixture(t, { kind });
    const ports = kind === 'redis' ? [(await redisServer()).port] : (await redisCluster()).ports;
    // what the servers ran since the last call: MGETs and SETs (SET NX and fills alike)
    const commands = async () => {
      const counts = { mget: 0, set: 0 };
      for (const port of ports) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'commandstats']);
        for (const match of stdout.matchAll(/^cmdstat_(mget|set):calls=(\d+)/gm)) counts[match[1] as 'mget' | 'set'] += Number(match[2]);
        await run('redis-cli', ['-p', String(port), 'config', 'resetstat']);
      }
      return counts;
    };
    await commands();
    await f.Post.get('post-1');
    t.deepEqual(await commands(), { mget: 1, set: 3 }, 'cold: one MGET beside a SET NX for the generation and the guard, then the fill');
    for (let i = 0; i < 5; i++) await f.Post.get('post-1');
    t.deepEqual(await commands(), { mget: 5, set: 0 }, 'hits: the tokens were seen present, so each is one MGET and nothing else');
    await f.Post.query().patch({ title: 'patched' }).where('id', 1); // this process's flush deletes the guard
    await commands();
    f.reset();
    t.is((await f.Post.get('post-1'))?.title, 'patched');
    t.deepEqual(await commands(), { mget: 1, set: 2 }, 'after its own flush the guard is offered again (SET NX), and filled');
    // another process's flush: the guard goes without this process knowing, so the read finds it absent
    const guard = (await storedKeys(f.store, kind)).map((key) => key.slice(key.indexOf('{'))).find((key) => key.includes(':g:slug:'));
    t.truthy(guard);
    await f.store.delete(guard!);
    await f.store.delete((await storedKeys(f.store, kind)).map((key) => key.slice(key.indexOf('{'))).find((key) => key.includes(':k:slug:'))!);
    await commands();
    f.reset();
    t.is((await f.Post.get('post-1'))?.title, 'patched');
    t.is(f.selects().length, 1);
    t.deepEqual(await commands(), { mget: 1, set: 2 }, 'a guard gone unseen costs one round trip more: created after the MGET, before the DB read');
    f.reset();
    t.is((await f.Post.get('post-1'))?.title, 'patched');
    t.is(f.selects().length, 0, 'and the fill stamped with it is served');
  });

  test(`disconnecting the Keyv closes the local tier's tracking connection [${kind}]`, async (t) => {
    const ports = kind === 'redis' ? [(await redisServer()).port] : (await redisCluster()).ports;
    const resp3Clients = async () => {
      let n = 0;
      for (const port of ports) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'client', 'list']);
        n += stdout.split('\n').filter((line) => /\bresp=3\b/.test(line) && /\bflags=\S*t/.test(line)).length; // RESP3, tracking on
      }
      return n;
    };
    const before = await resp3Clients();
    const store = await makeStore(t, kind);
    const Post = makePostClass(store, { localCache: { maxEntries: 100, ttl: 60_000 } });
    const f = await makeFixture(t, { kind: 'memory' });
    Post.knex(f.knex);
    await Post.get('post-1');
    t.true((await resp3Clients()) > before, 'a tracking connection is open');
    await store.disconnect();
    t.is(await resp3Clients(), before, 'and closed with the Keyv');
  });
}

test('a plain new Keyv(): the cache reads its Map directly, Keyv reads the same entries, and keyv.clear() empties them', async (t) => {
  const f = await makeFixture(t, { kind: 'memory' });
  const keyv = new Keyv();
  const Post = makePostClass(keyv);
  Post.knex(f.knex);
  await Post.get('post-1');
  const map = keyv.store as Map<string, unknown>;
  const keys = [...map.keys()];
  t.true(
    keys.every((key) => key.startsWith('keyv:{')),
    'under Keyv namespace, as Keyv writes',
  );
  const values = await keyv.getMany(keys.map((key) => key.slice('keyv:'.length)));
  t.true(values.every((value) => typeof value === 'string'));
  f.reset();
  await Post.get('post-1');
  t.is(f.selects().length, 0);
  await keyv.clear();
  await Post.get('post-1');
  t.is(f.selects().length, 1, 'after keyv.clear() the row comes from the DB again');
});

/** A store adapter that counts its calls; `async` answers with promises, `batch` offers `getMany`. */
class ObservedAdapter extends MapAdapter {
  gets = 0;
  batches = 0;
  failing = false;
  constructor(
    readonly async: boolean,
    batch: boolean,
  ) {
    super();
    if (batch) {
      (this as unknown as { getMany(keys: string[]): Promise<unknown[]> }).getMany = async (keys: string[]) => {
        this.batches++;
        if (this.failing) throw new Error('adapter down');
        return keys.map((key) => this.map.get(key));
      };
    }
  }
  override get(key: string): unknown {
    this.gets++;
    if (this.failing) {
      if (this.async) return Promise.reject(new Error('adapter down'));
      throw new Error('adapter down');
    }
    const value = super.get(key);
    return this.async ? Promise.resolve(value) : value;
  }
}

for (const [name, async, batch] of [
  ['answering at once', false, false],
  ['answering with promises', true, false],
  ['with getMany', true, true],
] as const) {
  test(`a Keyv over another adapter (${name}): reads go to the adapter, not through Keyv's getMany; Keyv reads what the cache wrote`, async (t) => {
    const f = await makeFixture(t, { kind: 'memory' });
    const adapter = new ObservedAdapter(async, batch);
    const keyv = new Keyv({ store: adapter, namespace: 'app' });
    let throughKeyv = 0;
    const getMany = keyv.getMany.bind(keyv);
    const errors: unknown[] = [];
    const Post = makePostClass(keyv, { onError: (error) => errors.push(error) });
    Post.knex(f.knex);
    t.is((await Post.get('post-1'))?.title, 'Title 1');
    f.reset();
    adapter.gets = adapter.batches = 0;
    t.is((await Post.get('post-1'))?.title, 'Title 1');
    t.is(f.selects().length, 0, 'a hit');
    t.is(batch ? adapter.batches : adapter.gets, batch ? 1 : 3, 'the entry, its guard and the generation, from the adapter');
    t.is(throughKeyv, 0);
    // what the cache wrote is Keyv's format, under Keyv's namespace
    const stored = [...adapter.map.keys()];
    t.true(stored.every((key) => key.startsWith('app:{')));
    t.true((await getMany(stored.map((key) => key.slice('app:'.length)))).every((value) => typeof value === 'string'));
    // a Keyv that overrides getMany is called as it asks
    const counting = new Keyv({ store: new ObservedAdapter(async, batch) });
    counting.getMany = ((keys: string[]) => {
      throughKeyv++;
      return Keyv.prototype.getMany.call(counting, keys);
    }) as typeof counting.getMany;
    const Counted = makePostClass(counting);
    Counted.knex(f.knex);
    await Counted.get('post-2');
    f.reset();
    t.is((await Counted.get('post-2'))?.title, 'Title 2');
    t.is(f.selects().length, 0);
    t.is(throughKeyv, 2, 'its own getMany read, once cold and once warm');
    // an adapter failing makes the DB answer, and onError hears of it
    adapter.failing = true;
    f.reset();
    t.is((await Post.get('post-1'))?.title, 'Title 1');
    t.is(f.selects().length, 1);
    t.true(errors.some((error) => String(error).includes('adapter down')));
  });
}

test('a Keyv over another adapter: an entry past its expiry is a miss; a Keyv with its own serializer is read through Keyv', async (t) => {
  const f = await makeFixture(t, { kind: 'memory' });
  const adapter = new ObservedAdapter(false, false);
  const keyv = new Keyv({ store: adapter });
  const Post = makePostClass(keyv, { ttl: 60_000 });
  Post.knex(f.knex);
  await Post.get('post-1');
  // every envelope expired a minute ago, as the store still holds them
  for (const [key, value] of adapter.map) {
    adapter.map.set(key, (value as string).replace(/"expires":\d+/, `"expires":${Date.now() - 60_000}`));
  }
  f.reset();
  t.is((await Post.get('post-1'))?.title, 'Title 1');
  t.is(f.selects().length, 1, 'expired: read from the DB again');
  const serialized: string[] = [];
  const own = new Keyv({
    store: new ObservedAdapter(false, false),
    serialize: (data: unknown) => {
      const text = JSON.stringify(data);
      serialized.push(text);
      return text;
    },
    deserialize: (text: string) => JSON.parse(text) as never,
  });
  const Own = makePostClass(own);
  Own.knex(f.knex);
  await Own.get('post-2');
  f.reset();
  t.is((await Own.get('post-2'))?.title, 'Title 2');
  t.is(f.selects().length, 0, 'its own format, read back by Keyv');
  t.true(serialized.length > 0);
});
