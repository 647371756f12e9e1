import test from 'ava';

import { generationKeyOf, tableTokenKey, tagOf } from '../../../src/core/keys.js';
import { InFlight, type Computation, type Fill } from '../../../src/store/in-flight.js';

const POSTS = '{oc:=a:posts}';
const USERS = '{oc:=a:users}';
const OTHER_DB_POSTS = '{oc:=b:posts}';

/** A fill stamped by `stamp`, joinable through a settled promise. */
const fill = (stamp: string): Fill => ({ joinable: Promise.resolve(null), stamp });
const computation = (deps: readonly string[]): Computation => ({ deps, outcome: Promise.resolve(1) });

const ALL_FILLS: string[] = [];

/** A row fill's stamp: its model's generation (every model on a table shares it). */
const stampOf = (key: string): string => generationKeyOf(tagOf(key));

function withFills(keys: readonly string[]): InFlight {
  const inFlight = new InFlight();
  for (const key of keys) {
    inFlight.startFill(key, fill(stampOf(key)));
    ALL_FILLS.push(key);
  }
  return inFlight;
}

/** The keys (of every fill the tests started) a caller could join now. */
function joinable(inFlight: InFlight): string[] {
  return [...new Set(ALL_FILLS)].filter((key) => inFlight.fillOf(key) !== undefined);
}

test('forget drops the fill of a value key, and only that one', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`, `${POSTS}:v1:=Post:k:id:=2`]);
  inFlight.forget([`${POSTS}:v1:=Post:k:id:=1`]);
  t.deepEqual(joinable(inFlight), [`${POSTS}:v1:=Post:k:id:=2`]);
});

test('forget of a generation key drops every fill under its hash tag, not under other tags', (t) => {
  const inFlight = withFills([
    `${POSTS}:v1:=Post:k:id:=1`,
    `${POSTS}:v2:=Draft:k:slug:=a`,
    `${USERS}:v1:=User:k:id:=1`,
    `${OTHER_DB_POSTS}:v1:=Post:k:id:=1`,
    // a tag that merely starts like the posts tag
    `{oc:=a:posts2}:v1:=Post2:k:id:=1`,
  ]);
  inFlight.forget([generationKeyOf(POSTS)]);
  t.deepEqual(joinable(inFlight).sort(), [`${OTHER_DB_POSTS}:v1:=Post:k:id:=1`, `${USERS}:v1:=User:k:id:=1`, `{oc:=a:posts2}:v1:=Post2:k:id:=1`].sort());
});

test('forget of a table token alone drops no row fill', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`]);
  inFlight.forget([tableTokenKey(POSTS)]);
  t.deepEqual(joinable(inFlight), [`${POSTS}:v1:=Post:k:id:=1`]);
});

test('forget of a table token drops the fills stamped by it (join lists), and no row fill', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`]);
  const list = `{oc:=a:post_tags}:v1:=post_tags:k:#list:=1`;
  inFlight.startFill(list, fill(tableTokenKey('{oc:=a:post_tags}')));
  ALL_FILLS.push(list);
  inFlight.forget([tableTokenKey(POSTS)]);
  t.deepEqual(joinable(inFlight).sort(), [`${POSTS}:v1:=Post:k:id:=1`, list].sort());
  inFlight.forget([tableTokenKey('{oc:=a:post_tags}')]);
  t.deepEqual(joinable(inFlight), [`${POSTS}:v1:=Post:k:id:=1`]);
});

test('forget drops computations keyed by a deleted key or depending on one', (t) => {
  const inFlight = new InFlight();
  inFlight.computations.set(`${POSTS}:c:=home`, computation([tableTokenKey(POSTS)]));
  inFlight.computations.set(`${USERS}:c:=list`, computation([tableTokenKey(USERS), tableTokenKey(POSTS)]));
  inFlight.computations.set(`${USERS}:c:=only-users`, computation([tableTokenKey(USERS)]));
  inFlight.computations.set(`${USERS}:c:=named`, computation([]));
  inFlight.forget([tableTokenKey(POSTS), `${USERS}:c:=named`]);
  t.deepEqual([...inFlight.computations.keys()], [`${USERS}:c:=only-users`]);
});

test('forget handles fills and computations in one call', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`, `${USERS}:v1:=User:k:id:=1`]);
  inFlight.computations.set(`${POSTS}:c:=home`, computation([generationKeyOf(POSTS)]));
  inFlight.computations.set(`${USERS}:c:=home`, computation([tableTokenKey(USERS)]));
  inFlight.forget([generationKeyOf(POSTS)]);
  t.deepEqual(joinable(inFlight), [`${USERS}:v1:=User:k:id:=1`]);
  t.deepEqual([...inFlight.computations.keys()], [`${USERS}:c:=home`]);
});

test('forget of unknown keys changes nothing', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`]);
  inFlight.computations.set(`${POSTS}:c:=home`, computation([tableTokenKey(POSTS)]));
  inFlight.forget([`${POSTS}:v1:=Post:k:id:=2`, 'plain', generationKeyOf(USERS)]);
  t.deepEqual(joinable(inFlight), [`${POSTS}:v1:=Post:k:id:=1`]);
  t.is(inFlight.computations.size, 1);
  inFlight.forget([]);
  t.deepEqual(joinable(inFlight), [`${POSTS}:v1:=Post:k:id:=1`]);
});

test('an ended fill is joined by no one, and a fill forgotten by a flush still counts as running until it ends', (t) => {
  const inFlight = new InFlight();
  const key = `${POSTS}:v1:=Post:k:id:=1`;
  const registered = inFlight.startFill(key, fill(stampOf(key)));
  t.is(inFlight.fillOf(key), registered.joinable);
  t.is(inFlight.fillsRunning, 1);
  inFlight.endFill(registered);
  inFlight.endFill(registered);
  t.is(inFlight.fillOf(key), undefined);
  t.is(inFlight.fillsRunning, 0);
  const second = inFlight.startFill(key, fill(stampOf(key)));
  inFlight.forget([key]);
  t.is(inFlight.fillOf(key), undefined, 'a flush makes it forget the fill');
  t.is(inFlight.fillsRunning, 1);
  const next = inFlight.startFill(key, fill(stampOf(key)));
  const third = next.joinable;
  inFlight.endFill(second);
  t.is(inFlight.fillOf(key), third, 'the fill the flush forgot ending does not end the one started after the flush');
  inFlight.endFill(next);
  t.is(inFlight.fillsRunning, 0);
});

test('ended fills are swept, running ones kept, however many come and go', (t) => {
  const inFlight = new InFlight();
  const running = Array.from({ length: 300 }, (_, i) => `${POSTS}:v1:=Post:k:id:=run${i}`);
  for (const key of running) inFlight.startFill(key, fill(stampOf(key)));
  for (let i = 0; i < 10_000; i++) inFlight.endFill(inFlight.startFill(`${POSTS}:v1:=Post:k:id:=${i}`, fill(stampOf(`${POSTS}:v1:=Post:k:id:=${i}`))));
  t.is(inFlight.fillsRunning, 300);
  t.true(running.every((key) => inFlight.fillOf(key) !== undefined));
  t.is(inFlight.fillOf(`${POSTS}:v1:=Post:k:id:=9999`), undefined);
});
