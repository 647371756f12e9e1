// One process of the Redis hit measured across processes (run.ts `redisHitAcrossProcesses`): it connects to the
// bench's redis-server and database, serves what an app's process would have served before (below), times the
// hit against the hand-written cache-aside in alternating rounds as run.ts does, and prints one line of JSON.
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { interleave, timingOf, type Timing } from './interleave.js';
import { definePost, handWritten, PlainPost, redisKeyv } from './posts.js';

/** What run.ts hands each process, in BENCH_HIT_PROCESS. */
export interface HitProcessInput {
  redisUrl: string;
  knexConfig: Knex.Config;
  db: string;
}

/** What each process prints. */
export interface HitProcessOutput {
  pairedRatio: number;
  /** Each side's timing over all its calls, in ms (p50, p99) and calls a second of its busy time. */
  hand: Timing;
  hit: Timing;
}

const OTHER_MODELS = 8;
const OTHER_MODEL_READS = 500;

async function main(): Promise<void> {
  const { redisUrl, knexConfig, db } = JSON.parse(process.env.BENCH_HIT_PROCESS!) as HitProcessInput;
  const knex = knexPkg(knexConfig);
  const baseline = knexPkg(knexConfig);
  const Plain = PlainPost.bindKnex(baseline);
  const keyv = await redisKeyv(redisUrl, `bench-${db}`);
  const Post = definePost(keyv, db);
  Post.knex(knex);
  const hand = await redisKeyv(redisUrl, `hand-${db}`);
  const handGet = handWritten(hand, Plain);

  // An app's process has served other models before any one hit is timed: each side first serves eight more
  // models on its one store (hits, misses, a getMany), as an app would. It matters: in probes, the hit measured
  // 0.95–0.97× the hand-written one in processes that had run nothing else, and 0.98–1.00× after other models.
  // A process that has done much more (the bench's own, after its other cases) measures higher still: README.
  for (let m = 0; m < OTHER_MODELS; m++) {
    const Other = definePost(keyv, `${db}-app${m}`);
    Other.knex(knex);
    const otherHand = handWritten(hand, Plain, `app${m}:`);
    for (let i = 0; i < OTHER_MODEL_READS; i++) {
      const slug = i % 100 === 99 ? `absent-${m}` : `post-${1 + (i % 50)}`;
      await Other.get(slug);
      await otherHand(slug);
    }
    await Other.getMany(Array.from({ length: 20 }, (_, i) => `post-${100 + i}`));
  }

  await handGet('post-42');
  await Post.get('post-42');
  const pair = await interleave({ fn: () => handGet('post-42') }, { fn: () => Post.get('post-42') });
  const output: HitProcessOutput = { pairedRatio: pair.pairedRatio, hand: timingOf(pair, 0), hit: timingOf(pair, 1) };
  process.stdout.write(`${JSON.stringify(output)}\n`);

  await keyv.disconnect();
  await hand.disconnect();
  await knex.destroy();
  await baseline.destroy();
}

await main();
