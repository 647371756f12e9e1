import test from 'ava';

import { generationKeyOf, tableTokenKey } from '../../../src/core/keys.js';
import { InFlight, type Computation, type RowOrMiss } from '../../../src/store/in-flight.js';

const POSTS = '{oc:=a:posts}';
const USERS = '{oc:=a:users}';
const OTHER_DB_POSTS = '{oc:=b:posts}';

const fill = (): Promise<RowOrMiss> => Promise.resolve(null);
const computation = (deps: readonly string[]): Computation => ({ deps, outcome: Promise.resolve(1) });

function withFills(keys: readonly string[]): InFlight {
  const inFlight = new InFlight();
  for (const key of keys) inFlight.fills.set(key, fill());
  return inFlight;
}

test('forget drops the fill of a value key, and only that one', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`, `${POSTS}:v1:=Post:k:id:=2`]);
  inFlight.forget([`${POSTS}:v1:=Post:k:id:=1`]);
  t.deepEqual([...inFlight.fills.keys()], [`${POSTS}:v1:=Post:k:id:=2`]);
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
  t.deepEqual(
    [...inFlight.fills.keys()].sort(),
    [`${OTHER_DB_POSTS}:v1:=Post:k:id:=1`, `${USERS}:v1:=User:k:id:=1`, `{oc:=a:posts2}:v1:=Post2:k:id:=1`].sort(),
  );
});

test('forget of a table token alone drops no row fill', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`]);
  inFlight.forget([tableTokenKey(POSTS)]);
  t.is(inFlight.fills.size, 1);
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
  t.deepEqual([...inFlight.fills.keys()], [`${USERS}:v1:=User:k:id:=1`]);
  t.deepEqual([...inFlight.computations.keys()], [`${USERS}:c:=home`]);
});

test('forget of unknown keys changes nothing', (t) => {
  const inFlight = withFills([`${POSTS}:v1:=Post:k:id:=1`]);
  inFlight.computations.set(`${POSTS}:c:=home`, computation([tableTokenKey(POSTS)]));
  inFlight.forget([`${POSTS}:v1:=Post:k:id:=2`, 'plain', generationKeyOf(USERS)]);
  t.is(inFlight.fills.size, 1);
  t.is(inFlight.computations.size, 1);
  inFlight.forget([]);
  t.is(inFlight.fills.size, 1);
});
