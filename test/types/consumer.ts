// Compiled by test/types.test.ts with `tsc --strict --noEmit`: the types an app sees, as an app writes them.
import type Keyv from 'keyv';
import { Model, type Page } from 'objection';
import { cached, CachedModel, configureCache, type CacheOptions } from 'objection-cache';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | void {}

const options: CacheOptions = { ttl: 60_000, missTtl: 5_000, prefix: 'app' };
configureCache(options);

class Author extends CachedModel(Model) {
  static override tableName = 'authors';
  declare id: number;
}

class Post extends CachedModel(Model) {
  static override tableName = 'posts';
  static override cacheKeys = ['slug', 'name'];
  static override cacheQueries = true;
  declare id: number;
  declare slug: string;
  declare author?: Author;
  static getByName(name: string) {
    return this.getBy('name', name);
  }
}

export async function usage(): Promise<void> {
  const post = Post.get('hello-world');
  expectType<Equals<typeof post, Promise<Post | undefined>>>();
  expectType<Equals<ReturnType<typeof Post.getByName>, Promise<Post | undefined>>>();
  const byId = Post.getById(1);
  expectType<Equals<typeof byId, Promise<Post | undefined>>>();
  const many = Post.getMany(['a', 'b']);
  expectType<Equals<typeof many, Promise<(Post | undefined)[]>>>();
  const manyBy = Post.getManyBy('name', ['a']);
  expectType<Equals<typeof manyBy, Promise<(Post | undefined)[]>>>();
  const found = await post;
  if (found) {
    const saved = await found.save();
    expectType<Equals<typeof saved, Post>>();
    const deleted = await found.delete();
    expectType<Equals<typeof deleted, number>>();
    const slug: string = found.slug;
    void slug;
  }
  await Post.flush({ id: 1, slug: 'a' });
  await Post.flushAll();
  await Post.flushTables('post_tags');

  // Cached queries keep Objection's result types through every chain.
  const list = await Post.query()
    .where('slug', 'like', 'a%')
    .orderBy('id')
    .cache({ ttl: 1_000, dependsOn: [Author, 'authors'] });
  expectType<Equals<typeof list, Post[]>>();
  const first = await Post.query().cache().first();
  expectType<Equals<typeof first, Post | undefined>>();
  const one = await Post.query().findById(1).cache();
  expectType<Equals<typeof one, Post | undefined>>();
  const page = await Post.query().page(0, 10).cache();
  expectType<Equals<typeof page, Page<Post>>>();
  const size: number = await Post.query().cache().resultSize();
  const graph = await Post.query().withGraphFetched('author').cache();
  expectType<Equals<typeof graph, Post[]>>();
  const author = await graph[0]!.$relatedQuery('author');
  void author;
  void size;

  // The low-level API and cached().
  const store: Keyv = Post.cacheStore;
  await store.set('all-posts', 'x');
  const value = await cached('fragment', async () => ({ html: '<p/>' }), { dependsOn: [Post, graph[0]!, 'posts'], ttl: 60_000 });
  expectType<Equals<typeof value, { html: string }>>();
}
