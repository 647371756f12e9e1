// The two metrics examples, fed by real lookups and writes on every store.
import test from 'ava';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { makeFixture } from '../test/helpers/fixture.js';
import { CONSISTENCY_SETUPS, forEachStore, useStores } from '../test/helpers/stores.js';
import { recordCacheMetrics } from './metrics.js';
import { registerCacheMetrics } from './prometheus.js';

useStores(test);
// Metrics come from process-wide events: one test at a time.
const serial = test.serial as typeof test;

/** A reader the test collects from when it wants (the app would export periodically instead). */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Sums of each counter and counts of each histogram, by metric name. */
function totals(collected: ResourceMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const scope of collected.scopeMetrics) {
    for (const metric of scope.metrics) {
      out[metric.descriptor.name] = metric.dataPoints.reduce((sum, point) => {
        const value = point.value as number | { count: number };
        return sum + (typeof value === 'number' ? value : value.count);
      }, 0);
    }
  }
  return out;
}

forEachStore(
  serial,
  'OpenTelemetry: hits, misses, fills, flushed keys and lookup times',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    const reader = new OnDemandReader();
    const provider = new MeterProvider({ readers: [reader] });
    t.teardown(() => provider.shutdown());
    const stop = recordCacheMetrics(provider.getMeter('test'));
    t.teardown(stop);
    await f.Post.get('post-1'); // miss, fill
    await f.Post.get('post-1'); // hit
    await f.Post.get('post-1'); // hit
    await f.Post.query().patch({ title: 'New' }).where('id', 1); // flush
    const { resourceMetrics } = await reader.collect();
    const seen = totals(resourceMetrics);
    t.is(seen['objection_cache.hits'], 2);
    t.is(seen['objection_cache.misses'], 1);
    t.is(seen['objection_cache.fills'], 1);
    t.true(seen['objection_cache.flushed_keys']! >= 7);
    t.is(seen['objection_cache.lookup.duration'], 3, 'one lookup time per key');
    stop();
    await f.Post.get('post-2');
    t.is(totals((await reader.collect()).resourceMetrics)['objection_cache.misses'], 1, 'stopped');
  },
  // a miss under a string is not cached on MySQL (its collation matches other spellings): test/mysql.test.ts
  CONSISTENCY_SETUPS.filter((setup) => setup.db !== 'mysql'),
);

forEachStore(
  serial,
  'Prometheus: the counters and the hit rate',
  async (t, kind, db) => {
    const f = await makeFixture(t, { kind, db });
    const registry = new Registry();
    const stop = registerCacheMetrics(registry);
    t.teardown(stop);
    await f.Post.getMany(['post-1', 'post-2', 'nope']); // 3 misses
    await f.Post.getMany(['post-1', 'post-2', 'nope']); // 3 hits, one of them a cached miss
    await f.Post.get('post-3'); // a miss
    const text = await registry.metrics();
    t.regex(text, /objection_cache_hits_total\{model="Post",kind="row",found="true"\} 2/);
    t.regex(text, /objection_cache_hits_total\{model="Post",kind="row",found="false"\} 1/);
    t.regex(text, /objection_cache_misses_total\{model="Post",kind="row"\} 4/);
    const hits = (await registry.getSingleMetric('objection_cache_hits_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const misses = (await registry.getSingleMetric('objection_cache_misses_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
    t.is(hits / (hits + misses), 3 / 7, 'the hit rate README gives the query for');
    t.regex(text, /objection_cache_lookup_seconds_count\{model="Post",kind="row",result="miss"\} 4/);
  },
  // a miss under a string is not cached on MySQL (its collation matches other spellings): test/mysql.test.ts
  CONSISTENCY_SETUPS.filter((setup) => setup.db !== 'mysql'),
);
