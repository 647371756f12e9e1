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
}
