import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';

const run = promisify(execFile);

export interface RedisCluster {
  readonly ports: readonly number[];
  readonly urls: readonly string[];
  readonly processes: readonly ChildProcess[];
  stop(): Promise<void>;
}

/**
 * A throwaway Redis Cluster of three masters on 127.0.0.1 (no replicas, no persistence), made with
 * `redis-cli --cluster create`. Nodes keep their cluster config in a temp dir that `stop()` removes. Each node
 * also listens on its port + 10000 (the cluster bus), which nothing reserved: a start that finds a port taken
 * is tried again on other ports.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (error) {
      if (attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

/**
 * A port whose cluster-bus twin (+10000) is free too, both below the kernel's ephemeral range (32768 and up on
 * Linux), so no outgoing connection can be handed either of them meanwhile.
 */
async function clusterPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 12_700);
    if (taken.includes(port) || taken.includes(port + 10_000)) continue;
    if ((await canBind(port)) && (await canBind(port + 10_000))) return port;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function startOnce(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'oc-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  const processes = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '5000',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  const stop = async () => {
    await Promise.all(
      processes.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      processes.map(
        (child) =>
          new Promise<void>((resolve, reject) => {
            let output = '';
            child.once('error', reject);
            child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`)));
            child.stdout!.on('data', (chunk: Buffer) => {
              output += chunk.toString();
              if (output.includes('Ready to accept connections')) {
                child.removeAllListeners('exit');
                resolve();
              }
            });
          }),
      ),
    );
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // The nodes agree on the slot map a moment after `create` returns: ask until every node says ok.
    for (const port of ports) {
      for (let attempt = 0; ; attempt++) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (attempt > 800) throw new Error(`cluster node ${port} never became ok:\n${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), processes, stop };
}
