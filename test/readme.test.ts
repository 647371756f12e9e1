import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRedis } from './helpers/redis.js';
import { startRedisCluster } from './helpers/redis-cluster.js';

// Every ```ts block of README.md, in order, as one program: imports hoisted (and deduplicated), the rest as
// written. The snippets assert what they claim, so a README that drifts from the code fails here.

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

function readmeProgram(): string {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const imports = new Set<string>();
  const body: string[] = [];
  for (const block of blocks) {
    for (const line of block.split('\n')) {
      if (/^import\s/.test(line)) imports.add(line);
      else body.push(line);
    }
  }
  return [...imports, '', ...body, "console.log('README OK');", 'await knex.destroy();', ''].join('\n');
}

test('README snippets type-check and run as written', async (t) => {
  const program = readmeProgram();
  t.true(program.includes('Post.get('), 'the snippets were found');
  mkdirSync(`${root}.tmp`, { recursive: true });
  const file = `${root}.tmp/readme-${process.pid}.ts`;
  writeFileSync(file, program);
  t.teardown(() => rmSync(file, { force: true }));
  const tsc = `${root}node_modules/typescript/bin/tsc`;
  const flags = ['--strict', '--noEmit', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node'];
  await t.notThrowsAsync(run(process.execPath, [tsc, ...flags, file]), 'tsc --strict');
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  const env = { ...process.env, REDIS_URL: redis.url, REDIS_CLUSTER_URLS: cluster.urls.join(',') };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root, env });
  t.regex(stdout, /README OK/);
});
