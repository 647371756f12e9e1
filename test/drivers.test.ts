import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Keyv from 'keyv';
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
