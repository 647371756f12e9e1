// A handler unit test as an app would write it: Post.get is stubbed, so no database and no cache are needed.
import test from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handlePost } from './handler.js';
import { Post } from './post.js';

async function serve(t: import('ava').ExecutionContext): Promise<string> {
  const server = createServer((req, res) => void handlePost(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test.serial('GET /posts/:slug answers with the post that Post.get returns', async (t) => {
  const original = Post.get;
  const asked: unknown[] = [];
  Post.get = (async (slug: string) => {
    asked.push(slug);
    return Post.fromJson({ id: 7, slug, name: 'Stubbed', body: 'b' });
  }) as typeof Post.get;
  t.teardown(() => {
    Post.get = original;
  });
  const res = await fetch(`${await serve(t)}/posts/some%20slug`);
  t.is(res.status, 200);
  t.like(await res.json(), { id: 7, slug: 'some slug', name: 'Stubbed' });
  t.deepEqual(asked, ['some slug']);
});

test.serial('GET /posts/:slug is a 404 when Post.get finds nothing', async (t) => {
  const original = Post.get;
  Post.get = (async () => undefined) as typeof Post.get;
  t.teardown(() => {
    Post.get = original;
  });
  const res = await fetch(`${await serve(t)}/posts/missing`);
  t.is(res.status, 404);
  t.deepEqual(await res.json(), { error: 'no such post' });
});
