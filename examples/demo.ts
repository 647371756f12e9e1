// npm run demo: a SQLite file, a few posts, and GET /posts/:slug served through Post.get on node:http.
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import knexPkg from 'knex';
import { handlePost } from './handler.js';
import { Post } from './post.js';

const dir = join(import.meta.dirname, '..', '.tmp');
const file = join(dir, 'demo.sqlite');
mkdirSync(dir, { recursive: true });
rmSync(file, { force: true });

const knex = knexPkg({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
await knex.schema.createTable('posts', (table) => {
  table.increments('id');
  table.string('slug').notNullable().unique();
  table.string('name').notNullable().unique();
  table.text('body').notNullable();
});
await knex('posts').insert([
  { slug: 'hello-world', name: 'Hello, world', body: 'The first post.' },
  { slug: 'caching', name: 'On caching', body: 'Read through, flush on write.' },
]);
Post.knex(knex);

let dbQueries = 0;
let hits = 0;
let misses = 0;
knex.on('query', () => dbQueries++);

const server = createServer((req, res) => {
  handlePost(req, res).catch((error: unknown) => {
    res.writeHead(500).end(String(error));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

async function request(path: string): Promise<void> {
  const before = dbQueries;
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = (await res.json()) as { name?: string; error?: string };
  const queries = dbQueries - before;
  const outcome = queries === 0 ? 'hit ' : 'miss';
  if (queries === 0) hits++;
  else misses++;
  console.log(`GET ${path.padEnd(22)} ${res.status} ${outcome} db queries: ${queries}  ${body.name ?? body.error}`);
}

console.log(`SQLite file ${file}, serving on http://127.0.0.1:${port}\n`);
await request('/posts/hello-world'); // miss: read from the DB, cached
await request('/posts/hello-world'); // hit
await request('/posts/caching');
await request('/posts/caching');
await request('/posts/nope'); // miss, cached as a miss
await request('/posts/nope'); // the cached miss answers

console.log('\nrenaming hello-world to hello-again through Objection (flushes old and new keys)');
const post = (await Post.get('hello-world'))!;
post.slug = 'hello-again';
await post.save();
await request('/posts/hello-world'); // the old key no longer hits
await request('/posts/hello-again'); // the new key reads the renamed row
await request('/posts/hello-again');

console.log(`\n${hits} hits, ${misses} misses, ${dbQueries} DB queries in all (the rename's own writes included)`);
server.close();
await knex.destroy();
