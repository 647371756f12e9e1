import test from 'ava';
import { LocalTier } from '../../../src/store/local-tier.js';

function gate<T>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

const options = { maxEntries: 3, ttl: 60_000 };

test('a read keeps what Redis answered; peek gives it back, undefined for the rest', async (t) => {
  const tier = new LocalTier(options);
  t.deepEqual(await tier.read(['a', 'b'], async () => ['1', undefined]), ['1', undefined]);
  t.deepEqual(tier.peek(['a', 'b']), ['1', undefined]);
  t.is(tier.size, 1, 'an absent key is not kept: absence here means "ask Redis"');
  t.true(tier.holds(tier.peek(['a'])));
  t.false(tier.holds(tier.peek(['a', 'b'])));
});

test('an invalidation drops the key; drop does the same for this process own writes', async (t) => {
  const tier = new LocalTier(options);
  await tier.read(['a', 'b'], async () => ['1', '2']);
  tier.invalidate('a');
  tier.drop(['b']);
  t.deepEqual(tier.peek(['a', 'b']), [undefined, undefined]);
});

test('an invalidation that overtakes a read spoils that key of its answer, and only that key', async (t) => {
  const tier = new LocalTier(options);
  const answer = gate<readonly unknown[]>();
  const reading = tier.read(['a', 'b'], () => answer.promise);
  tier.invalidate('a'); // Redis pushed it while the answer was on its way
  answer.open(['old', '2']);
  await reading;
  t.deepEqual(tier.peek(['a', 'b']), [undefined, '2']);
  await tier.read(['a'], async () => ['new']);
  t.deepEqual(tier.peek(['a']), ['new'], 'the next read keeps it again');
});

test('a key stays spoiled while any read of it that began before the invalidation is under way', async (t) => {
  const tier = new LocalTier(options);
  const first = gate<readonly unknown[]>();
  const second = gate<readonly unknown[]>();
  const one = tier.read(['a'], () => first.promise);
  tier.invalidate('a');
  const two = tier.read(['a'], () => second.promise);
  first.open(['old']);
  await one;
  second.open(['maybe old']);
  await two;
  t.deepEqual(tier.peek(['a']), [undefined], 'conservative: the second read overlapped the invalidated one');
});

test('forgetAll empties the tier and voids every read under way', async (t) => {
  const tier = new LocalTier(options);
  await tier.read(['a'], async () => ['1']);
  const answer = gate<readonly unknown[]>();
  const reading = tier.read(['b'], () => answer.promise);
  tier.forgetAll();
  t.is(tier.size, 0);
  answer.open(['2']);
  await reading;
  t.deepEqual(tier.peek(['a', 'b']), [undefined, undefined], 'a read begun before forgetAll keeps nothing');
});

test('a failed read (STORE_DOWN) keeps nothing and is handed on', async (t) => {
  const tier = new LocalTier(options);
  const down = Symbol('down');
  t.is(await tier.read(['a'], async () => down), down);
  t.is(tier.size, 0);
});

test('at most maxEntries keys, the oldest written going first; each expires ttl ms after its read', async (t) => {
  const tier = new LocalTier(options);
  await tier.read(['a', 'b', 'c', 'd'], async () => ['1', '2', '3', '4']);
  t.is(tier.size, 3);
  t.deepEqual(tier.peek(['a', 'b', 'c', 'd']), [undefined, '2', '3', '4']);
  const brief = new LocalTier({ maxEntries: 10, ttl: 1 });
  const realNow = Date.now;
  const start = realNow();
  Date.now = () => start;
  try {
    await brief.read(['x'], async () => ['1']);
    t.deepEqual(brief.peek(['x']), ['1']);
    Date.now = () => start + 2;
    t.deepEqual(brief.peek(['x']), [undefined]);
    t.is(brief.size, 0, 'an expired key is dropped when seen');
  } finally {
    Date.now = realNow;
  }
});
