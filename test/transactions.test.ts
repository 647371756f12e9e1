import test from 'ava';
import { forEachSetup, forEachStore, useStores } from './helpers/stores.js';
import type { Knex } from 'knex';
import { gate } from './helpers/gates.js';
import { makeFixture } from './helpers/fixture.js';
import { twoConnections } from './helpers/two-connections.js';

useStores(test);

type Setup = Awaited<ReturnType<typeof twoConnections>>;

/** The three ways to run a transaction; each runs `body` and commits. */
const styles: [string, (s: Setup, body: (trx: Knex.Transaction) => Promise<void>) => Promise<void>][] = [
  ['Model.transaction()', (s, body) => s.Writer.transaction((trx) => body(trx))],
  ['knex.transaction()', (s, body) => s.writerKnex.transaction((trx) => body(trx))],
  [
    'startTransaction() and commit()',
    async (s, body) => {
      const trx = await s.Writer.startTransaction();
      await body(trx);
      await trx.commit();
    },
  ],
];

for (const [style, run] of styles) {
  forEachSetup(test, `${style}: the flush waits for the commit, and the caller's await waits for the flush`, async (t, kind, db) => {
    const s = await twoConnections(t, kind, db);
    await s.Reader.get('post-1');
    let hold: { started: Promise<void>; release(): void } | undefined;
    let returned = false;
    const transaction = run(s, async (trx) => {
      await s.Writer.query(trx).patch({ title: 'new' }).where('id', 1);
      t.is(s.store.calls.deleteMany ?? 0, 0, 'nothing is flushed before the commit');
      // A reader outside the transaction refills from the committed (old) row meanwhile.
      await s.Reader.flush({ id: 1, slug: 'post-1', name: 'Post 1' });
      t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
      // From here on, deletions wait: the commit's flush will hang until the test lets it go.
      hold = s.store.holdDeletes();
    }).then(() => {
      returned = true;
    });
    while (!hold) await new Promise((resolve) => setImmediate(resolve));
    await hold.started;
    // Give every other continuation many turns of the event loop (setImmediate yields, it does not time anything).
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    t.false(returned, 'the transaction has committed but its caller has not resumed: the flush is under way');
    hold.release();
    await transaction;
    t.is((await s.Reader.get('post-1'))?.title, 'new', 'the refill made during the transaction is gone');
  });
}

forEachSetup(test, 'savepoints: a nested transaction does not flush on release, only the outermost commit does', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  await s.Reader.getMany(['post-1', 'post-2']);
  await s.Writer.transaction(async (trx) => {
    await trx.transaction(async (inner) => {
      await s.Writer.query(inner).patch({ title: 'inner' }).where('id', 1);
    });
    await s.Writer.transaction(trx, async (inner) => {
      await s.Writer.query(inner).patch({ title: 'inner 2' }).where('id', 2);
    });
    t.is(s.store.calls.deleteMany ?? 0, 0);
    t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
  });
  t.is(s.store.calls.deleteMany, 1, 'one flush, for everything the transaction wrote');
  t.deepEqual(
    (await s.Reader.getMany(['post-1', 'post-2'])).map((p) => p?.title),
    ['inner', 'inner 2'],
  );
});

forEachSetup(test, 'a rollback flushes nothing and leaves nothing the transaction saw in the cache', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  await s.Reader.getMany(['post-1', 'post-3', 'nope']);
  s.store.resetCounts();
  await t.throwsAsync(
    s.Writer.transaction(async (trx) => {
      await s.Writer.query(trx).patch({ title: 'rolled back' }).where('id', 1);
      await s.Writer.query(trx).insert({ slug: 'nope', name: 'Nope' });
      await s.Writer.query(trx).deleteById(3);
      t.is((await s.Writer.get('post-1', trx))?.title, 'rolled back');
      t.is((await s.Writer.get('nope', trx))?.name, 'Nope');
      throw new Error('abort');
    }),
    { message: 'abort' },
  );
  t.deepEqual(s.store.calls, {}, 'no store call at all: reads in the transaction bypass the cache, writes wait');
  t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
  t.is(await s.Reader.get('nope'), undefined);
  t.is((await s.Reader.get('post-3'))?.slug, 'post-3');
});

forEachSetup(test, 'a plain trx.rollback() (which knex resolves, not rejects) flushes nothing', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  await s.Reader.get('post-1');
  const trx = await s.Writer.startTransaction();
  await s.Writer.query(trx).patch({ title: 'x' }).where('id', 1);
  await trx.rollback();
  await trx.executionPromise;
  t.is(s.store.calls.deleteMany ?? 0, 0);
  t.is((await s.Reader.get('post-1'))?.title, 'Title 1');
});

forEachSetup(test, 'a savepoint rolled back inside a committed transaction: the outer writes are flushed, the cache matches the DB', async (t, kind, db) => {
  const s = await twoConnections(t, kind, db);
  await s.Reader.getMany(['post-1', 'post-2']);
  await s.Writer.transaction(async (trx) => {
    await s.Writer.query(trx).patch({ title: 'kept' }).where('id', 1);
    await t.throwsAsync(
      trx.transaction(async (inner) => {
        await s.Writer.query(inner).patch({ title: 'dropped' }).where('id', 2);
        throw new Error('inner abort');
      }),
    );
  });
  t.deepEqual(
    (await s.Reader.getMany(['post-1', 'post-2'])).map((p) => p?.title),
    ['kept', 'Title 2'],
  );
});

forEachSetup(test, 'a write outside any transaction flushes once, before its await returns', async (t, kind, db) => {
  const f = await makeFixture(t, { kind, db });
  await f.Post.get('post-1');
  const hold = f.store.holdDeletes();
  let returned = false;
  const write = f.Post.query()
    .patch({ title: 'now' })
    .where('id', 1)
    .then(() => (returned = true));
  await hold.started;
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.false(returned, 'the write waits for its flush');
  hold.release();
  await write;
  t.is(f.store.calls.deleteMany, 1);
});

forEachStore(
  test,
  'PostgreSQL: a transaction that writes a row another open transaction renames flushes the new key (rows are locked)',
  async (t, kind, db) => {
    const s = await twoConnections(t, kind, db);
    const renameCommitted = gate();
    const secondWrote = gate();
    const secondMayCommit = gate();
    // T1 renames post-1 and holds its transaction open.
    const first = s.Writer.transaction(async (trx) => {
      await s.Writer.query(trx).patch({ slug: 'renamed' }).where('id', 1);
      await renameCommitted.promise;
    });
    // T2 patches the same row; its SELECT of keys must wait for T1 and then see the new slug.
    const second = s.Writer.transaction(async (trx) => {
      await s.Writer.query(trx).patch({ title: 'by T2' }).where('id', 1);
      secondWrote.open();
      await secondMayCommit.promise;
    });
    // Wait until T2 is blocked on T1's row lock (asked of the server, not timed).
    for (;;) {
      const { rows } = await s.readerKnex.raw("select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock'");
      if (rows[0].n > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    renameCommitted.open();
    await first; // T1 committed and flushed post-1 and renamed
    await secondWrote.promise;
    t.is((await s.Reader.get('renamed'))?.title, 'Title 1', 'a reader fills the committed row (T2 has not committed)');
    secondMayCommit.open();
    await second;
    t.is((await s.Reader.get('renamed'))?.title, 'by T2', 'T2 flushed the key it found under its lock');
  },
  [
    { store: 'memory', db: 'postgres' },
    { store: 'redis', db: 'postgres' },
  ],
);
