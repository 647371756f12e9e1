/** One measured case of the benchmark, as bench/results.json keeps it and the chart draws it. */
export interface Row {
  store: string;
  db: string;
  kind: 'case' | 'baseline';
  name: string;
  opsPerSec: number;
  p50: number;
  p99: number;
  dbPerOp: number;
  redisPerOp: number | null;
  /** Round trips to Redis per operation (writes sent together count once); null off Redis. */
  roundTripsPerOp: number | null;
  ratios: Record<string, number>;
  /**
   * A case timed in alternating rounds with a baseline: the median over rounds of its p50 over the baseline's p50
   * in the same round (cost ×, below 1 is cheaper). Pairing rounds takes out the machine's drift from one round to
   * the next, which the p50 of all samples mixes in.
   */
  pairedRatio?: number;
  /**
   * A 95% confidence interval of `pairedRatio`: the order statistics of the per-round ratios that bound their
   * median with at least 95% probability (a sign test, exact for any distribution of the ratios), taking rounds
   * as independent draws. A target such as "at most 1.0×" is met with confidence only when the upper bound is.
   */
  pairedInterval?: [number, number];
  /** Measured across processes (run.ts `redisHitAcrossProcesses`): each process's paired ratio, ascending. */
  processRatios?: number[];
}
