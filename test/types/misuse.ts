// Must NOT compile: test/types.test.ts checks that tsc rejects each line marked below.
import { Model } from 'objection';
import { CachedModel } from 'objection-cache';

class Post extends CachedModel(Model) {
  static override tableName = 'posts';
  declare slug: string;
}

export async function misuse(): Promise<void> {
  const post: Post = await Post.get('x'); // error: possibly undefined
  const n: number = (await Post.get('x'))!.slug; // error: string is not number
  await Post.get(true); // error: not a key value
  await Post.query().cache({ ttl: '1s' }); // error: ttl is a number
  void post;
  void n;
}
