import test from 'ava';
import knexPkg from 'knex';
import Keyv from 'keyv';
import { Model } from 'objection';
import { CachedModel, configureCache } from 'objection-cache';
import { POSTS_DDL } from './helpers/fixture.js';
import { unscoped } from './helpers/keys.js';

// configureCache is process-wide, so it gets a test file (a process) of its own.
test('configureCache sets process-wide defaults that mixin options override', async (t) => {
  const shared = new Keyv();
  configureCache({ store: shared, prefix: 'app1' });
  const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await knex.schema.createTable('posts', POSTS_DDL);
  await knex('posts').insert({ slug: 's', name: 'n' });
  class Post extends CachedModel(Model) {
    static override tableName = 'posts';
  }
  class Other extends CachedModel(Model, { prefix: 'app2' }) {
    static override tableName = 'posts';
  }
  Post.knex(knex);
  Other.knex(knex);
  await Post.get(1);
  await Other.get(1);
  const keys = [...(shared.store as Map<string, unknown>).keys()].map(unscoped);
  t.true(keys.some((k) => k.includes('{app1:posts}')));
  t.true(keys.some((k) => k.includes('{app2:posts}')));
  configureCache({ store: undefined, prefix: undefined });
  t.throws(() => configureCache({ ttl: -1 }), { instanceOf: TypeError, message: /ttl/ });
  await knex.destroy();
});
