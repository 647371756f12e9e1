import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BoundedMap } from 'objection-cache';
import { makeFixture } from './helpers/fixture.js';
import { forEachStore, redisCluster, redisServer, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Nothing the library keeps grows without bound. 100,000 distinct keys are read (each a cached miss: a value and
// a guard token): the process heap stays within a stated bound, every Redis key has a TTL, and the number of
// keys is at most two per distinct key plus one generation token.

const KEYS = 100_000;
const HEAP_BOUND = 48 * 1024 * 1024; // what the process may keep after the reads: well under 500 bytes a key

async function keyspace(kind: StoreKind): Promise<{ keys: number; expires: number }> {
  const ports = kind === 'redis' ? [(await redisServer()).port] : (await redisCluster()).ports;
  let keys = 0;
  let expires = 0;
  for (const port of ports) {
    const { stdout } = await promisify(execFile)('redis-cli', ['-p', String(port), 'info', 'keyspace']);
    const match = /keys=(\d+),expires=(\d+)/.exec(stdout);
    if (match) {
      keys += Number(match[1]);
      expires += Number(match[2]);
    }
  }
  return { keys, expires };
}

function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

forEachStore(test, `${KEYS.toLocaleString('en')} distinct-key reads stay within a bounded heap and key count, every key with a TTL`, async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  t.truthy((globalThis as { gc?: () => void }).gc, 'ava runs with --expose-gc');
  const heapBefore = heapAfterGc();
  for (let batch = 0; batch < KEYS / 1000; batch++) {
    const keys = Array.from({ length: 1000 }, (_, i) => `k-${batch}-${i}`);
    const rows = await f.Post.getMany(keys);
    if (rows.some((row) => row !== undefined)) t.fail('no such rows');
  }
  // what the test's own store and query log record of each call is not the library's heap
  f.store.ttls.clear();
  f.reset();
  const growth = heapAfterGc() - heapBefore;
  if (kind === 'memory') {
    const map = (f.store.store as { map: Map<string, unknown> }).map;
    t.true(map.size <= 2 * KEYS + 1, `${map.size} entries`);
    t.log(`memory store: ${map.size} entries, heap +${(growth / 1048576).toFixed(1)} MiB`);
  } else {
    const { keys, expires } = await keyspace(kind);
    t.true(keys <= 2 * KEYS + 1 && keys >= KEYS, `${keys} keys`);
    t.is(expires, keys, 'every key has a TTL');
    t.true(growth < HEAP_BOUND, `heap grew ${(growth / 1048576).toFixed(1)} MiB`);
    t.log(`${kind}: ${keys} keys, all with a TTL, heap +${(growth / 1048576).toFixed(1)} MiB`);
  }
});

test('the default memory store forgets its oldest entries past its bound', async (t) => {
  const map = new BoundedMap<string, number>(3);
  for (let i = 0; i < 10; i++) map.set(`k${i}`, i);
  t.deepEqual([...map.keys()], ['k7', 'k8', 'k9']);
  map.set('k7', 70);
  map.set('k10', 10);
  t.deepEqual([...map.keys()], ['k9', 'k7', 'k10'], 'a rewritten key is young again');
  t.throws(() => new BoundedMap(0), { instanceOf: TypeError });
});

test('a process reading 100,000 distinct keys through the default store keeps at most its bound', async (t) => {
  const f = await makeFixture(t, { rows: 0 });
  const { createMemoryStore } = await import('objection-cache');
  const store = createMemoryStore(10_000);
  class Bounded extends f.Post {
    static override cacheStore = store;
  }
  for (let batch = 0; batch < 100; batch++) await Bounded.getMany(Array.from({ length: 1000 }, (_, i) => `b-${batch}-${i}`));
  t.is((store.store as Map<string, unknown>).size, 10_000);
  t.is((await Bounded.getMany(['b-99-999']))[0], undefined);
});
