import KeyvRedis from '@keyv/redis';
import test from 'ava';
import Keyv from 'keyv';

import type { CacheErrorContext } from '../../../src/core/public-types.js';
import { CacheStore, report } from '../../../src/store/cache-store.js';
import { createMemoryStore } from '../../../src/driver/memory-store.js';
import { MemoryDriver } from '../../../src/driver/memory-driver.js';
import { KeyvDriver } from '../../../src/driver/keyv-driver.js';
import { RedisDriver } from '../../../src/driver/redis-driver.js';

interface Heard {
  readonly error: unknown;
  readonly context: CacheErrorContext;
}

function listener(): { heard: Heard[]; onError: (error: unknown, context: CacheErrorContext) => void } {
  const heard: Heard[] = [];
  return { heard, onError: (error, context) => heard.push({ error, context }) };
}

test('CacheStore.of: one object per Keyv, whoever asks', (t) => {
  const keyv = createMemoryStore();
  const store = CacheStore.of(keyv, () => undefined);
  t.is(
    CacheStore.of(keyv, () => undefined),
    store,
  );
  t.is(store.keyv, keyv);
  t.not(
    CacheStore.of(createMemoryStore(), () => undefined),
    store,
  );
});

test('a memory store is local: the memory driver', (t) => {
  const store = CacheStore.of(createMemoryStore(), () => undefined);
  t.true(store.local instanceof MemoryDriver);
  t.is(store.driver, store.local!);
  t.true(String(store).startsWith('CacheStore(memory: '));
});

test('a plain new Keyv() (a Map in this process) is local too', (t) => {
  const store = CacheStore.of(new Keyv(), () => undefined);
  t.true(store.local instanceof MemoryDriver);
  t.true(String(store).startsWith('CacheStore(memory: '));
});

test('a Keyv over another store goes through Keyv', (t) => {
  const store = CacheStore.of(new Keyv({ store: new Map(), compression: { compress: (v: unknown) => v, decompress: (v: unknown) => v } }), () => undefined);
  t.is(store.local, undefined);
  t.true(store.driver instanceof KeyvDriver);
  t.true(String(store).startsWith('CacheStore(keyv: '));
});

test('a Keyv over @keyv/redis gets the Redis driver (nothing connects)', (t) => {
  const store = CacheStore.of(new Keyv({ store: new KeyvRedis('redis://127.0.0.1:1') }), () => undefined);
  t.is(store.local, undefined);
  t.true(store.driver instanceof RedisDriver);
  t.true(String(store).startsWith('CacheStore(redis: '));
});

test('toString shows the breaker state and the counts', (t) => {
  const store = CacheStore.of(createMemoryStore(), () => undefined);
  t.is(String(store), 'CacheStore(memory: breaker closed, 0 pending flush keys, 0 fills and 0 computations in flight, 0 tables)');
  store.breaker.open(() => undefined);
  store.breaker.cancelCheck();
  store.pendingFlushes.addKeys(['{oc:=a:posts}:g:id:=1', '{oc:=a:posts}:g:id:=2']);
  store.pendingFlushes.addTokens(['{oc:=a:posts}:gen']);
  store.inFlight.endFill(store.inFlight.startFill('{oc:=a:posts}:v1:=Post:k:id:=0', { joinable: Promise.resolve(null), stamp: '{oc:=a:posts}:gen' }));
  store.inFlight.startFill('{oc:=a:posts}:v1:=Post:k:id:=1', { joinable: Promise.resolve(null), stamp: '{oc:=a:posts}:gen' });
  store.inFlight.computations.set('{oc:=a:posts}:c:=x', { deps: [], outcome: Promise.resolve(1) });
  store.inFlight.computations.set('{oc:=a:posts}:c:=y', { deps: [], outcome: Promise.resolve(2) });
  store.tables.register('oc', 'posts', {}, []);
  store.tables.register('other', 'posts', {}, []);
  store.tables.register('oc', 'users', {}, []);
  t.is(String(store), 'CacheStore(memory: breaker open, 3 pending flush keys, 1 fills and 2 computations in flight, 3 tables)');
  store.breaker.suspend();
  t.regex(String(store), /breaker suspended/);
});

test('degraded while flushes are pending', (t) => {
  const store = CacheStore.of(createMemoryStore(), () => undefined);
  t.false(store.degraded);
  store.pendingFlushes.addTokens(['{oc:=a:posts}:gen']);
  t.true(store.degraded);
  store.pendingFlushes.delivered(['{oc:=a:posts}:gen']);
  t.false(store.degraded);
});

test('an error the Keyv emits is counted and reaches the first onError as operation "store"', (t) => {
  const keyv = new Keyv();
  const first = listener();
  const second = listener();
  const store = CacheStore.of(keyv, first.onError);
  CacheStore.of(keyv, second.onError);
  const error = new Error('boom');
  t.is(store.errors, 0);
  keyv.emit('error', error);
  t.is(store.errors, 1);
  t.is(first.heard.length, 1);
  t.is(first.heard[0]!.error, error);
  t.deepEqual(first.heard[0]!.context, { operation: 'store' });
  t.is(second.heard.length, 0, 'one listener per Keyv');
  keyv.emit('error', new Error('again'));
  t.is(store.errors, 2);
});

test('an error of the Keyv adapter reaches the store through Keyv', (t) => {
  const adapter = new KeyvRedis('redis://127.0.0.1:1');
  const keyv = new Keyv({ store: adapter });
  const { heard, onError } = listener();
  const store = CacheStore.of(keyv, onError);
  adapter.emit('error', new Error('adapter'));
  t.is(store.errors, 1);
  t.is(heard[0]?.context.operation, 'store');
});

test('an onError that throws does not throw out of the Keyv error event', (t) => {
  const keyv = new Keyv();
  const store = CacheStore.of(keyv, () => {
    throw new Error('handler');
  });
  t.notThrows(() => keyv.emit('error', new Error('boom')));
  t.is(store.errors, 1);
});

test('disconnecting the Keyv suspends the breaker', async (t) => {
  const keyv = createMemoryStore();
  const store = CacheStore.of(keyv, () => undefined);
  t.false(store.breaker.isSuspended);
  await keyv.disconnect();
  t.true(store.breaker.isSuspended);
  t.regex(String(store), /breaker suspended/);
});

test('report: passes error, operation and model; leaves out model when not given', (t) => {
  const { heard, onError } = listener();
  const error = new Error('x');
  report(onError, error, 'getMany', 'Post');
  report(onError, error, 'store');
  t.is(heard[0]!.error, error);
  t.deepEqual(heard[0]!.context, { operation: 'getMany', model: 'Post' });
  t.deepEqual(heard[1]!.context, { operation: 'store' });
  t.false('model' in heard[1]!.context);
});

test('report: a handler that throws does not throw out of report', (t) => {
  let calls = 0;
  t.notThrows(() =>
    report(
      () => {
        calls++;
        throw new Error('handler');
      },
      new Error('x'),
      'getMany',
    ),
  );
  t.is(calls, 1);
});
