import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Model, raw } from 'objection';
import type { Knex } from 'knex';
import { CountingKeyv, makePostClass, POSTS_DDL } from './helpers/fixture.js';
import { makeKnex, UNIQUE_VIOLATION, type DbKind } from './helpers/databases.js';
import { CachedModel, createMemoryStore, type LocalCacheOptions } from 'objection-cache';
import { CONSISTENCY_SETUPS, forEachStore, makeStore, useStores, type StoreKind } from './helpers/stores.js';

useStores(test);

// Random sequences of reads and writes, against better-sqlite3: after every step, every cached read (by every
// key, of every value in the pools) equals a direct DB read.

const SLUGS = ['a', 'b', 'c', 'd', 'ax', 'bx', 'axx'];
const NAMES = ['A', 'B', 'C', 'D', 'E'];
const IDS = [1, 2, 3, 4, 5, 6, 7];

// Cached queries and relations the sequences warm, and check() compares with the DB after every step.
const QUERY_COUNT = 5;
const slug = fc.constantFrom(...SLUGS);
const name = fc.constantFrom(...NAMES);
const id = fc.constantFrom(...IDS);

const write = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), slug, name }),
  fc.record({ op: fc.constant('rename' as const), id, slug }),
  fc.record({ op: fc.constant('renameName' as const), from: slug, name }),
  fc.record({ op: fc.constant('bulkPatch' as const), minViews: fc.integer({ min: 0, max: 3 }), title: fc.string({ maxLength: 3 }) }),
  fc.record({ op: fc.constant('rawSlug' as const), id }),
  fc.record({ op: fc.constant('delete' as const), id }),
  fc.record({ op: fc.constant('deleteWhere' as const), slug }),
  fc.record({ op: fc.constant('save' as const), id, title: fc.string({ maxLength: 3 }), slug: fc.option(slug) }),
  fc.record({ op: fc.constant('upsert' as const), slug, name }),
  fc.record({ op: fc.constant('setAuthor' as const), id, author: fc.constantFrom(1, 2, 3) }),
  fc.record({ op: fc.constant('renameAuthor' as const), author: fc.constantFrom(1, 2, 3), name }),
);
type Write = typeof write extends fc.Arbitrary<infer W> ? W : never;

const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), slug }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getByName' as const), name }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getById' as const), id }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getMany' as const), slugs: fc.subarray(SLUGS) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('query' as const), which: fc.integer({ min: 0, max: QUERY_COUNT - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('related' as const), id }) },
  { weight: 4, arbitrary: write },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('transaction' as const), writes: fc.array(write, { maxLength: 4 }), rollback: fc.boolean() }) },
);

const TITLE = 'random reads, writes and transactions never leave a cached read that differs from the DB';

forEachStore(test, TITLE, (t, kind, db) => property(t, kind, db), [...CONSISTENCY_SETUPS, { store: 'local', db: 'sqlite' }]);

// With the local tier: this process's own writes drop its local copies before they return, so here too a read
// never differs from the DB.
for (const kind of ['redis', 'cluster'] as const) {
  test(`${TITLE} [${kind}, localCache]`, (t) => property(t, kind, 'sqlite', { maxEntries: 1_000, ttl: 60_000 }));
}

async function property(t: ExecutionContext, kind: StoreKind, db: DbKind, localCache?: LocalCacheOptions): Promise<void> {
  {
    let runs = 0;
    // One database per test; each run starts from the same two rows.
    const knex = await makeKnex(t, db);
    // On Redis one connection serves every run; each run gets a prefix of its own.
    const shared = kind === 'memory' ? undefined : kind === 'local' ? createMemoryStore() : await makeStore(t, kind);
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        runs++;
        {
          await knex.schema.dropTableIfExists('posts');
          await knex.schema.dropTableIfExists('authors');
          await knex.schema.createTable('posts', POSTS_DDL);
          await knex.schema.createTable('authors', (table) => {
            table.increments('id');
            table.string('name').notNullable();
          });
          await knex('authors').insert([{ name: 'A' }, { name: 'B' }, { name: 'C' }]);
          await knex('posts').insert([
            { slug: 'a', name: 'A', views: 1, authorId: 1 },
            { slug: 'b', name: 'B', views: 2, authorId: 2 },
          ]);
          const store = shared ?? new CountingKeyv();
          const local = localCache ? { localCache } : {};
          class Author extends CachedModel(Model, { store, prefix: `run${runs}`, timeout: 20_000, ...local }) {
            static override tableName = 'authors';
            declare id: number;
            declare name: string;
            static override get relationMappings() {
              return { posts: { relation: Model.HasManyRelation, modelClass: Post, join: { from: 'authors.id', to: 'posts.authorId' } } };
            }
          }
          class Post extends makePostClass(store, { prefix: `run${runs}`, ...local }) {
            declare author?: Author;
            static override get relationMappings() {
              return { author: { relation: Model.BelongsToOneRelation, modelClass: Author, join: { from: 'posts.authorId', to: 'authors.id' } } };
            }
          }
          Post.knex(knex);
          Author.knex(knex);
          type P = InstanceType<typeof Post>;
          const queries = (cache: boolean): PromiseLike<unknown>[] => {
            const on = <Q extends { cache(): Q }>(query: Q): Q => (cache ? query.cache() : query);
            return [
              on(Post.query().orderBy('id')),
              on(Post.query().where('views', '>=', 2).orderBy('id')),
              on(Post.query().withGraphFetched('author').orderBy('id')),
              on(Post.query().count('* as n').first()),
              on(Author.query().withGraphJoined('posts').orderBy(['authors.id', 'posts.id'])),
            ];
          };

          const apply = async (w: Write, trx?: Knex.Transaction, rethrow = false): Promise<void> => {
            const q = () => Post.query(trx);
            try {
              switch (w.op) {
                case 'insert':
                  await q().insert({ slug: w.slug, name: w.name, views: 1 });
                  break;
                case 'rename':
                  await q().patch({ slug: w.slug }).where('id', w.id);
                  break;
                case 'renameName':
                  await q().patch({ name: w.name }).where('slug', w.from);
                  break;
                case 'bulkPatch':
                  await q()
                    .patch({ title: w.title, views: raw('views + 1') as never })
                    .where('views', '>=', w.minViews);
                  break;
                case 'rawSlug':
                  await q()
                    .patch({ slug: raw("concat(slug, 'x')") as never })
                    .where('id', w.id);
                  break;
                case 'delete':
                  await q().deleteById(w.id);
                  break;
                case 'deleteWhere':
                  await q().delete().where('slug', w.slug);
                  break;
                case 'save': {
                  const post = (await Post.getById(w.id, trx)) as P | undefined;
                  if (!post) break;
                  post.title = w.title;
                  if (w.slug !== null) post.slug = w.slug;
                  await post.save(trx);
                  break;
                }
                case 'upsert':
                  await q().insert({ slug: w.slug, name: w.name }).onConflict('slug').merge();
                  break;
                case 'setAuthor':
                  await q().patch({ authorId: w.author }).where('id', w.id);
                  break;
                case 'renameAuthor':
                  await Author.query(trx).patch({ name: w.name }).where('id', w.author);
                  break;
              }
            } catch (error) {
              if (rethrow || !UNIQUE_VIOLATION.test(String(error))) throw error;
            }
          };

          const check = async (label: string): Promise<void> => {
            const rows = await Post.query();
            const by = (column: 'id' | 'slug' | 'name', value: unknown) => rows.find((row) => row[column] === value)?.$toJson();
            const slugs = [...SLUGS, ...rows.map((row) => row.slug)];
            const cachedBySlug = await Post.getMany(slugs);
            slugs.forEach((s, i) => t.deepEqual(cachedBySlug[i]?.$toJson(), by('slug', s), `${label}: slug ${s}`));
            const cachedByName = await Post.getManyBy('name', NAMES);
            NAMES.forEach((n, i) => t.deepEqual(cachedByName[i]?.$toJson(), by('name', n), `${label}: name ${n}`));
            const cachedById = await Post.getManyBy('id', IDS);
            IDS.forEach((n, i) => t.deepEqual(cachedById[i]?.$toJson(), by('id', n), `${label}: id ${n}`));
            const cachedQueries = await Promise.all(queries(true));
            const directQueries = await Promise.all(queries(false));
            cachedQueries.forEach((result, i) => t.deepEqual(plain(result), plain(directQueries[i]), `${label}: cached query ${i}`));
            for (const row of rows) {
              const related = await row.$relatedQuery('author');
              const direct = await Author.query().findById(row.authorId ?? -1);
              t.deepEqual(related?.$toJson(), direct?.$toJson(), `${label}: author of post ${row.id}`);
            }
          };

          for (const [i, s] of steps.entries()) {
            switch (s.op) {
              case 'get':
                await Post.get(s.slug);
                break;
              case 'getByName':
                await Post.getByName(s.name);
                break;
              case 'getById':
                await Post.getById(s.id);
                break;
              case 'getMany':
                await Post.getMany(s.slugs);
                break;
              case 'query':
                await queries(true)[s.which];
                break;
              case 'related': {
                const post = (await Post.getById(s.id)) as P | undefined;
                if (post) await post.$relatedQuery('author');
                break;
              }
              case 'transaction':
                await Post.transaction(async (trx) => {
                  // Each write in a savepoint: on PostgreSQL a unique violation would otherwise abort the transaction.
                  for (const w of s.writes) {
                    await trx
                      .transaction((savepoint) => apply(w, savepoint, true))
                      .catch((error: unknown) => {
                        if (!UNIQUE_VIOLATION.test(String(error))) throw error;
                      });
                  }
                  if (s.rollback) throw new Error('rollback');
                }).catch((error: unknown) => {
                  if (String(error) !== 'Error: rollback') throw error;
                });
                break;
              default:
                await apply(s);
            }
            await check(`step ${i} (${s.op})`);
          }
        }
      }),
      {
        numRuns: db === 'postgres' ? 100 : 200,
        // a failure names the assertion that failed; FC_SEED and FC_PATH replay a failing run
        verbose: fc.VerbosityLevel.Verbose,
        ...(process.env['FC_SEED'] ? { seed: Number(process.env['FC_SEED']), path: process.env['FC_PATH'] } : {}),
      },
    );
    t.is(runs, db === 'postgres' ? 100 : 200);
  }
}

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null)) as unknown;
}
