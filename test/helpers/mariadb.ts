import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis.js';

const run = promisify(execFile);

export interface MariaDb {
  readonly port: number;
  stop(): Promise<void>;
}

const INSTALL_HINT = 'mariadbd was not found: install it (Debian: apt-get install mariadb-server; .ci/run does this)';

/**
 * A throwaway MariaDB server: a data dir made by mariadb-install-db in a temp dir, listening on 127.0.0.1 and a
 * free port only (its socket in that dir), no binary log, no fsync. `stop()` ends exactly this server, by pid,
 * and removes the dir. Root connects without a password (unix_socket is not set up for TCP; the grant tables are
 * made with `--auth-root-authentication-method=normal` and an empty password).
 */
export async function startMariaDb(): Promise<MariaDb> {
  if (!existsSync('/usr/sbin/mariadbd')) throw new Error(INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'oc-maria-'));
  const data = join(dir, 'data');
  // a temp dir of its own: servers installed at once in the shared /tmp collided on their temp tables' names
  // ("Error on delete of '/tmp/#sql-temptable-…'"), failing a test's setup now and then
  const temp = join(dir, 'tmp');
  mkdirSync(temp);
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${data}`,
    `--tmpdir=${temp}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--skip-name-resolve',
    ...user,
  ]);
  const port = await freePort();
  const child = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--tmpdir=${temp}`,
      `--socket=${join(dir, 'sock')}`,
      `--pid-file=${join(dir, 'pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-doublewrite=0',
      // every test of a file runs at once, each with a pool of its own: room for a few hundred databases' pools
      '--max-connections=2000',
      ...user,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready for connections')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`mariadbd exited with ${code} before it was ready:\n${output}`)));
  });
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
