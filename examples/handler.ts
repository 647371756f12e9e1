import type { IncomingMessage, ServerResponse } from 'node:http';
import { Post } from './post.js';

/** GET /posts/:slug, answered through the cache. */
export async function handlePost(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const match = /^\/posts\/([^/?]+)$/.exec(req.url ?? '');
  if (req.method !== 'GET' || !match) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
    return;
  }
  const post = await Post.get(decodeURIComponent(match[1]!));
  if (!post) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no such post' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(post));
}
