import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
const flags = ['--strict', '--noEmit', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node'];

test('an app using the public API type-checks under tsc --strict, with Post.get typed Promise<Post | undefined>', async (t) => {
  const file = fileURLToPath(new URL('./types/consumer.ts', import.meta.url));
  await t.notThrowsAsync(run(process.execPath, [tsc, ...flags, file]));
});

test('misuse fails to type-check, each line for its own reason', async (t) => {
  const file = fileURLToPath(new URL('./types/misuse.ts', import.meta.url));
  const error = await t.throwsAsync<Error & { stdout: string }>(run(process.execPath, [tsc, ...flags, file]));
  const lines = error!.stdout.split('\n').filter((line) => line.includes('error TS'));
  t.is(lines.length, 4, error!.stdout);
  t.regex(lines[0]!, /\(11,/);
  t.regex(lines[1]!, /\(12,/);
  t.regex(lines[2]!, /\(13,/);
  t.regex(lines[3]!, /\(14,/);
});
