// Two operations timed in alternating rounds, and the statistics of their paired ratio: used by run.ts in the
// bench's own process and by hit-process.ts in each process of the Redis hit measured across processes.
import { performance } from 'node:perf_hooks';

/** One side of an interleaved pair. */
export interface Timed {
  fn: () => PromiseLike<unknown>;
  /** Set up before each round of this side, and undone after it (untimed). */
  beforeRound?: () => void;
  afterRound?: () => void;
}

/** One side's figures over all its calls: calls a second of its busy time, and p50 and p99 in ms. */
export interface Timing {
  opsPerSec: number;
  p50: number;
  p99: number;
}

export interface Interleaved {
  /** Every call's latency in ms, per side, sorted ascending. */
  latencies: [Float64Array, Float64Array];
  /** Total ms spent in each side's calls. */
  busy: [number, number];
  /** The median over rounds of the task's p50 over the baseline's p50 in the same round. */
  pairedRatio: number;
  /** Its 95% confidence interval (see `medianInterval`). */
  pairedInterval: [number, number];
}

/**
 * A case whose cost differs from its baseline's by a few microseconds, more than the noise between two cases
 * measured one after the other: both run in alternating rounds, so they share whatever the machine is doing.
 */
export async function interleave(baseline: Timed, task: Timed, rounds = 100, perRound = 40): Promise<Interleaved> {
  const tasks = [baseline, task];
  // Warm-up: enough calls for the JIT to settle both paths before either is timed, 10,000 each (or 2 s). A path
  // first used here (a Keyv over another adapter) measured 6.5 µs a hit after 1,000 calls and 2.3 µs after 10,000:
  // V8 optimizes, meets a new object shape, drops the code and optimizes again. A server runs it millions of times.
  for (const t of tasks) {
    const until = performance.now() + 2_000;
    for (let i = 0; i < 10_000 && performance.now() < until; i++) await t.fn();
  }
  const latencies = [new Float64Array(rounds * perRound), new Float64Array(rounds * perRound)] as const;
  const busy: [number, number] = [0, 0];
  for (let round = 0; round < rounds; round++) {
    // ABBA: the baseline goes first in even rounds, the case in odd ones, so neither always runs just after the
    // other has pushed its own code and data out of the CPU's caches
    for (const k of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const t = tasks[k]!;
      t.beforeRound?.();
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await t.fn();
        const took = performance.now() - t0;
        latencies[k]![round * perRound + i] = took;
        busy[k]! += took;
      }
      t.afterRound?.();
    }
  }
  const roundP50 = (k: number, round: number) => median(latencies[k]!.slice(round * perRound, (round + 1) * perRound));
  const roundRatios = Float64Array.from({ length: rounds }, (_, round) => roundP50(1, round) / roundP50(0, round)).sort();
  return {
    latencies: [latencies[0].sort(), latencies[1].sort()],
    busy,
    pairedRatio: median(roundRatios),
    pairedInterval: medianInterval(roundRatios),
  };
}

/** The timing of side `k` (0 the baseline, 1 the case) of an interleaved pair. */
export function timingOf({ latencies, busy }: Interleaved, k: 0 | 1): Timing {
  const sorted = latencies[k];
  return { opsPerSec: (sorted.length / busy[k]) * 1000, p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
}

/**
 * The 95% confidence interval of the median of `sorted` (ascending), by order statistics: the j-th smallest and
 * j-th largest values, j the largest rank with P(Binomial(n, 1/2) < j) <= 2.5%. It assumes nothing about the
 * shape of the distribution, only that the values are independent draws. For 100 rounds: the 40th and 61st; for
 * 9 processes, the 2nd and 8th.
 */
export function medianInterval(sorted: Float64Array): [number, number] {
  const n = sorted.length;
  let below = 0; // P(Binomial(n, 1/2) < j), summed term by term
  let term = 0.5 ** n; // P(X = 0)
  let j = 0;
  while (j < n && below + term <= 0.025) {
    below += term;
    term = (term * (n - j)) / (j + 1);
    j++;
  }
  // j values lie below the lower bound with probability <= 2.5%: the bound is the (j)th smallest (1-based), at least the first
  const rank = Math.max(1, j);
  return [sorted[rank - 1]!, sorted[n - rank]!];
}

/** The median of `values`, sorting them in place. */
export function median(values: Float64Array): number {
  const sorted = values.sort();
  return sorted[Math.floor(sorted.length * 0.5)]!;
}
