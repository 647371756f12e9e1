import test from 'ava';
import fc from 'fast-check';
import { makeFixture } from './helpers/fixture.js';
import { makeStore, storedKeys, useStores, forEachStore } from './helpers/stores.js';
import { makePostClass } from './helpers/fixture.js';
import { unscoped } from './helpers/keys.js';

useStores(test);

// Keys from fast-check: unicode, control characters, ':', '*', '?', '[', 10 kB, numbers, negatives, floats,
// bigints, look-alikes such as 1 and '1', and values that are no key at all. Each lookup either answers what a
// direct DB query answers (twice: cold, then from the cache) or throws a TypeError before any I/O.

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(':', '*', '?', '[', ']', '[a-z]*', '{oc:posts}', '\\', '\n', '\u0000', ' ', '', '1', '01', '1.0', '-1', '1e3', '__proto__'),
  fc.string({ minLength: 10_000, maxLength: 10_240 }),
);
const key = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom<unknown>(null, undefined, true, false, Number.NaN, Infinity, {}, [], new Date(0), () => 1, Symbol('s')),
);

forEachStore(test, 'any key reads the row the DB reads, or is a TypeError before any I/O', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  const Post = f.Post;
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(text, { maxLength: 6 }), fc.array(key, { minLength: 1, maxLength: 8 }), async (slugs, keys) => {
      runs++;
      await f.knex('posts').delete();
      await Post.flushAll();
      for (const [i, slug] of slugs.entries()) await f.knex('posts').insert({ slug, name: `n${runs}-${i}` });
      for (const k of [...keys, ...slugs]) {
        const valid = typeof k === 'string' || typeof k === 'bigint' || (typeof k === 'number' && Number.isFinite(k));
        f.reset();
        if (!valid) {
          await t.throwsAsync(Post.get(k as string), { instanceOf: TypeError, message: /Post\.slug/ });
          t.deepEqual(f.queries, []);
          t.deepEqual(f.store.calls, {});
          continue;
        }
        const direct = await Post.query()
          .where('slug', k as string)
          .first();
        const cold = await Post.get(k as string);
        const warm = await Post.get(k as string);
        t.deepEqual(cold?.$toJson(), direct?.$toJson(), `cold ${JSON.stringify(String(k)).slice(0, 40)}`);
        t.deepEqual(warm?.$toJson(), direct?.$toJson(), `warm ${JSON.stringify(String(k)).slice(0, 40)}`);
      }
    }),
    { numRuns: kind === 'memory' ? 100 : 40 },
  );
});

forEachStore(test, 'distinct keys never share an entry; keys are bounded in length', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  const slugs = ['a', 'A', 'a ', ' a', 'a\n', 'a:b', 'a*', '*', '?', '[', '\u00e9', 'e\u0301', 'x'.repeat(10_000), 'x'.repeat(10_001), '1', '1.5', '-1'];
  for (const [i, slug] of slugs.entries()) await f.knex('posts').insert({ slug, name: `n${i}` });
  await f.Post.getMany(slugs);
  const stored = (await storedKeys(f.store, kind)).filter((k) => k.includes(':k:slug:'));
  t.is(new Set(stored).size, slugs.length, 'one entry per distinct value');
  t.true(stored.every((k) => k.length < 200));
  t.deepEqual(
    (await f.Post.getMany(slugs)).map((p) => p?.slug),
    slugs,
  );
});

forEachStore(test, 'flushAll() with glob-like keys touches only its own model, in its own app', async (t, kind) => {
  const f = await makeFixture(t, { kind, rows: 0 });
  for (const slug of ['*', '?', '[a-z]', 'a*b']) await f.knex('posts').insert({ slug, name: slug });
  const OtherApp = makePostClass(f.store, { prefix: 'other-app' });
  OtherApp.knex(f.knex);
  class Authors extends f.Post {
    static override tableName = 'posts_copy';
  }
  await f.knex.schema.createTable('posts_copy', (table) => {
    table.increments('id');
    table.string('slug');
    table.string('name');
  });
  await f.knex('posts_copy').insert({ slug: '*', name: '*' });
  await f.Post.getMany(['*', '?', '[a-z]', 'a*b']);
  await OtherApp.getMany(['*', '?']);
  await Authors.get('*');
  const before = await storedKeys(f.store, kind);
  f.reset();
  await f.Post.flushAll();
  const after = await storedKeys(f.store, kind);
  t.deepEqual(
    before.filter((k) => !after.includes(k)).map((k) => unscoped(k.replace(/^.*?\{/, '{'))),
    ['{oc:posts}:gen'],
    'exactly one stored key deleted',
  );
  t.deepEqual(
    f.store.keysDeleted.map((keys) => keys.map(unscoped)),
    [['{oc:posts}:gen', '{oc:posts}:tv']],
    'the generation and the table version (not stored: no query was cached)',
  );
  t.is(f.store.calls.deleteMany, 1);
  f.reset();
  await OtherApp.getMany(['*', '?']);
  await Authors.get('*');
  t.is(f.selects().length, 0, 'the other app and the other model are still cached');
});
