import test from 'ava';

import { tokenKeysOf } from '../../../src/core/keys.js';
import { MAX_PENDING_KEYS, PendingFlushes } from '../../../src/store/pending-flushes.js';

const POSTS = '{oc:=a:posts}';
const USERS = '{oc:=a:users}';
const postKey = (i: number): string => `${POSTS}:v1:=Post:k:id:=${i}`;

test('a new queue is empty', (t) => {
  const pending = new PendingFlushes();
  t.true(pending.isEmpty);
  t.is(pending.size, 0);
  t.deepEqual(pending.all(), []);
  t.is(pending.delivery, undefined);
});

test('addKeys and addTokens keep each key once; all() lists keys then tokens', (t) => {
  const pending = new PendingFlushes();
  pending.addKeys([postKey(1), `${POSTS}:g:id:=1`, postKey(1)]);
  pending.addTokens(tokenKeysOf(USERS));
  pending.addTokens(tokenKeysOf(USERS));
  t.false(pending.isEmpty);
  t.is(pending.size, 4);
  t.deepEqual(pending.all(), [postKey(1), `${POSTS}:g:id:=1`, `${USERS}:gen`, `${USERS}:tv`]);
});

test('tokens alone make the queue non-empty', (t) => {
  const pending = new PendingFlushes();
  pending.addTokens([`${USERS}:gen`]);
  t.false(pending.isEmpty);
  t.is(pending.size, 1);
});

test('delivered forgets keys and tokens, and only those given', (t) => {
  const pending = new PendingFlushes();
  pending.addKeys([postKey(1), postKey(2)]);
  pending.addTokens(tokenKeysOf(USERS));
  pending.delivered([postKey(1), `${USERS}:gen`, 'never-added']);
  t.deepEqual(pending.all(), [postKey(2), `${USERS}:tv`]);
  pending.delivered(pending.all());
  t.true(pending.isEmpty);
  t.is(pending.size, 0);
});

test('up to MAX_PENDING_KEYS single keys are kept as they are', (t) => {
  const pending = new PendingFlushes();
  pending.addKeys(Array.from({ length: MAX_PENDING_KEYS }, (_, i) => postKey(i)));
  t.is(pending.size, MAX_PENDING_KEYS);
  t.true(pending.all().includes(postKey(0)));
});

test('past MAX_PENDING_KEYS single keys are traded for the tokens of their tags; tokens are never dropped', (t) => {
  const pending = new PendingFlushes();
  pending.addTokens(['{oc:=a:tags}:gen']);
  pending.addKeys([`${USERS}:g:handle:=ann`]);
  pending.addKeys(Array.from({ length: MAX_PENDING_KEYS }, (_, i) => postKey(i)));
  t.deepEqual(new Set(pending.all()), new Set(['{oc:=a:tags}:gen', ...tokenKeysOf(USERS), ...tokenKeysOf(POSTS)]));
  t.is(pending.size, 5);
  // the queue keeps working afterwards: new single keys are kept as keys again
  pending.addKeys([postKey(1)]);
  t.is(pending.size, 6);
  t.true(pending.all().includes(postKey(1)));
  t.is(MAX_PENDING_KEYS, 100_000);
});

test('the delivery under way is kept as given', async (t) => {
  const pending = new PendingFlushes();
  const delivery = Promise.resolve(true);
  pending.delivery = delivery;
  t.is(pending.delivery, delivery);
  t.true(await pending.delivery);
});
