import test from 'ava';
import { makeFixture } from './helpers/fixture.js';
import { forEachStore, useStores } from './helpers/stores.js';

useStores(test);

// MySQL and MariaDB match strings under their collation: the default ones ignore case, accents and trailing
// spaces, so `get('POST-1')` finds the row `post-1`. A flush reaches the entries of a row's own spelling only: a
// row found under another spelling is served and not cached (as on every DB), and there a miss under a string is
// not cached either, since it could outlive the insert of a row spelled otherwise. Numbers match their own.

const MYSQL = [
  { store: 'memory', db: 'mysql' },
  { store: 'redis', db: 'mysql' },
] as const;

forEachStore(
  test,
  "MySQL's collation: a lookup answers what the DB answers, and no miss under a string outlives an insert spelled otherwise",
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    t.is((await f.Post.get('POST-1'))?.id, 1, 'the DB matches it whatever the case');
    f.reset();
    t.is((await f.Post.get('POST-1'))?.id, 1);
    t.is(f.selects().length, 1, 'found under another spelling: served, not cached');
    await f.Post.get('post-1');
    f.reset();
    t.is((await f.Post.get('post-1'))?.id, 1);
    t.is(f.selects().length, 0, 'its own spelling is cached');

    t.is(await f.Post.get('Fresh'), undefined);
    await f.Post.query().insert({ slug: 'fresh', name: 'Fresh' });
    t.is((await f.Post.get('Fresh'))?.slug, 'fresh', 'the miss was not cached: the insert spelled otherwise is seen');
    t.is((await f.Post.get('fresh  '))?.slug, 'fresh', 'trailing spaces too');
    t.is(await f.Post.get('Fréshér'), undefined);
    await f.Post.query().insert({ slug: 'fresher', name: 'Fresher' });
    t.is((await f.Post.get('Fréshér'))?.slug, 'fresher', 'accents too');

    t.is(await f.Post.getById(999), undefined);
    f.reset();
    t.is(await f.Post.getById(999), undefined);
    t.is(f.selects().length, 0, 'a miss under a number is cached');
    await f.Post.query().insert({ id: 999, slug: 'n', name: 'N' });
    t.is((await f.Post.getById(999))?.slug, 'n', 'and flushed by the insert');
  },
  MYSQL,
);
