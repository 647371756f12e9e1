// Compiled by test/types.test.ts with `tsc --strict --noEmit`: the types an app sees, as an app writes them.
import { Model } from 'objection';
import { CachedModel, configureCache, type CacheOptions } from 'objection-cache';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | void {}

const options: CacheOptions = { ttl: 60_000, missTtl: 5_000, prefix: 'app' };
configureCache(options);

class Post extends CachedModel(Model) {
  static override tableName = 'posts';
  static override cacheKeys = ['slug', 'name'];
  declare id: number;
  declare slug: string;
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
}
