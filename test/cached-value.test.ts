import test from 'ava';
import { Model } from 'objection';
import { cached } from 'objection-cache';
import { makeBlog } from './helpers/blog.js';
import { gate } from './helpers/gates.js';
import { forEachSetup, forEachStore, useStores } from './helpers/stores.js';

useStores(test);

forEachSetup(test, 'cached() keeps a value until a row it depends on changes', async (t, kind, db) => {
  const b = await makeBlog(t, kind, db);
  const post = (await b.Post.getById(1))!;
  let runs = 0;
  const render = () =>
    cached(
      `card:${post.id}`,
      async () => {
        runs++;
        const fresh = (await b.Post.query().findById(post.id))!;
        return { html: `<h1>${fresh.title}</h1>`, at: new Date(0), n: 10n ** 20n };
      },
      { dependsOn: [post] },
    );
  const first = await render();
  t.deepEqual(first, { html: '<h1>Title 1</h1>', at: new Date(0), n: 10n ** 20n });
  b.reset();
  t.deepEqual(await render(), first, 'Dates and bigints come back as they went in');
  t.is(runs, 1);
  t.deepEqual(b.selects(), []);
  await b.Post.query().patch({ title: 'Other post' }).where('id', 2);
  await render();
  t.is(runs, 1, 'a write to another row leaves it');
  await b.Post.query().patch({ title: 'New' }).where('id', 1);
  t.is((await render()).html, '<h1>New</h1>');
  t.is(runs, 2);
  await b.Post.flushAll();
  await render();
  t.is(runs, 3, 'flushAll drops it');
});

forEachStore(test, 'cached() on a model class or table name is dropped by any write to the table', async (t, kind) => {
  const b = await makeBlog(t, kind);
  const count = () => cached('author-count', async () => await b.Author.query().resultSize(), { dependsOn: [b.Author] });
  // A table name resolves in the given store (default: the configured one) among the cached models this
  // process has used; here Post has been.
  await b.Post.getById(1);
  const postCount = () => cached('post-count', async () => await b.Post.query().resultSize(), { dependsOn: ['posts'], store: b.store });
  const joinRows = () => cached('join-rows', async () => (await b.knex('post_tags').count('* as n'))[0]!.n, { dependsOn: [b.Author, 'post_tags'] });
  t.is(Number(await joinRows()), 0, "a join table is found through the model's relations");
  await b.Post.relatedQuery('tags').for(1).relate(1);
  t.is(Number(await joinRows()), 1);
  t.is(await count(), 2);
  t.is(await postCount(), 4);
  await b.Author.query().insert({ handle: 'cy', name: 'Cy' });
  t.is(await count(), 3);
  t.is(await postCount(), 4);
  await b.Post.query().deleteById(4);
  t.is(await postCount(), 3);
});

forEachStore(test, 'cached() runs one computation for concurrent callers; an error reaches them all and is not cached', async (t, kind) => {
  const b = await makeBlog(t, kind);
  const open = gate();
  let runs = 0;
  const slow = () =>
    cached(
      'slow',
      async () => {
        runs++;
        await open.promise;
        return ['x'];
      },
      { dependsOn: [b.Post] },
    );
  const callers = Array.from({ length: 20 }, slow);
  open.open();
  const values = await Promise.all(callers);
  t.is(runs, 1);
  t.true(values.every((v) => JSON.stringify(v) === '["x"]'));
  t.not(values[0], values[1], 'each caller gets its own copy');

  let failures = 0;
  const failing = () =>
    cached(
      'failing',
      async () => {
        failures++;
        throw new Error('boom');
      },
      { dependsOn: [b.Post] },
    );
  const results = await Promise.allSettled([failing(), failing(), failing()]);
  t.true(results.every((r) => r.status === 'rejected' && String(r.reason) === 'Error: boom'));
  t.is(failures, 1);
  await t.throwsAsync(failing, { message: 'boom' });
  t.is(failures, 2, 'not cached');
  t.is(await cached('undefined', () => undefined, { dependsOn: [b.Post] }), undefined);
  let undefinedRuns = 0;
  await cached('undefined2', () => void undefinedRuns++, { dependsOn: [b.Post] });
  await cached('undefined2', () => void undefinedRuns++, { dependsOn: [b.Post] });
  t.is(undefinedRuns, 1, 'undefined is a value like any other');
});

forEachStore(test, 'a computation that read before a write is not served after it', async (t, kind) => {
  const b = await makeBlog(t, kind);
  const read = gate();
  const release = gate();
  const early = cached(
    'titles',
    async () => {
      const titles = (await b.Post.query().orderBy('id')).map((p) => p.title);
      read.open();
      await release.promise;
      return titles;
    },
    { dependsOn: [b.Post] },
  );
  await read.promise;
  await b.Post.query().patch({ title: 'X' }).where('id', 1);
  const late = await cached('titles', async () => (await b.Post.query().orderBy('id')).map((p) => p.title), { dependsOn: [b.Post] });
  t.is(late[0], 'X', 'a caller after the write does not join the early computation');
  release.open();
  t.is((await early)[0], 'Title 1');
  t.is((await cached('titles', async () => ['recomputed'], { dependsOn: [b.Post] }))[0], 'recomputed', 'the early value was stored, and is ignored');
});

forEachStore(test, 'cached() with the store down computes every time and still answers', async (t, kind) => {
  const b = await makeBlog(t, kind);
  b.store.failing = true;
  let runs = 0;
  t.is(await cached('down', () => ++runs, { dependsOn: [b.Post] }), 1);
  t.is(await cached('down', () => ++runs, { dependsOn: [b.Post] }), 2);
});

test('cached() rejects bad arguments with a TypeError before any I/O', async (t) => {
  const b = await makeBlog(t);
  b.reset();
  class Plain extends Model {
    static override tableName = 'plain';
  }
  const noop = () => 1;
  await t.throwsAsync(() => cached('', noop), { instanceOf: TypeError, message: /key/ });
  await t.throwsAsync(() => cached('k', 'nope' as never), { instanceOf: TypeError, message: /function/ });
  await t.throwsAsync(() => cached('k', noop, { dependsOn: [Plain] }), { instanceOf: TypeError, message: /Plain, which is not a CachedModel/ });
  await t.throwsAsync(() => cached('k', noop, { dependsOn: [Plain.fromJson({ id: 1 })] }), { instanceOf: TypeError, message: /Plain is not a CachedModel/ });
  await t.throwsAsync(() => cached('k', noop, { dependsOn: [b.Post.fromJson({})] }), { instanceOf: TypeError, message: /no id/ });
  await t.throwsAsync(() => cached('k', noop, { dependsOn: ['no_such_table'] }), { instanceOf: TypeError, message: /"no_such_table"/ });
  await t.throwsAsync(() => cached('k', noop, { dependsOn: [b.Post], ttl: -5 }), { instanceOf: TypeError, message: /ttl/ });
  t.deepEqual(b.store.calls, {});
  t.deepEqual(b.selects(), []);
});
