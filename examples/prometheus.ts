// Prometheus metrics (prom-client) fed by the cache's events; serve `registry.metrics()` on /metrics as usual.
import { Counter, Histogram, type Registry } from 'prom-client';
import { cacheEvents, type CacheEventMap, type CacheEventName } from 'objection-cache';

/**
 * Registers objection_cache_* counters and a lookup-time histogram on `registry`, fed from the cache's events.
 * Returns a function that stops feeding them.
 */
export function registerCacheMetrics(registry: Registry): () => void {
  const registers = [registry];
  const hits = new Counter({
    name: 'objection_cache_hits_total',
    help: 'Keys, queries and values served from the cache',
    labelNames: ['model', 'kind', 'found'],
    registers,
  });
  const misses = new Counter({
    name: 'objection_cache_misses_total',
    help: 'Keys, queries and values read from the database',
    labelNames: ['model', 'kind'],
    registers,
  });
  const fills = new Counter({
    name: 'objection_cache_fills_total',
    help: 'Entries written to the store after a read',
    labelNames: ['model', 'kind'],
    registers,
  });
  const flushed = new Counter({
    name: 'objection_cache_flushed_keys_total',
    help: 'Keys deleted from the store by writes',
    labelNames: ['model', 'delivered'],
    registers,
  });
  const errors = new Counter({
    name: 'objection_cache_errors_total',
    help: 'Store failures the cache stepped around',
    labelNames: ['model', 'operation'],
    registers,
  });
  const lookups = new Histogram({
    name: 'objection_cache_lookup_seconds',
    help: 'Store read (hit) or database read (miss) per key',
    labelNames: ['model', 'kind', 'result'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers,
  });

  const listeners: { [K in CacheEventName]?: (event: CacheEventMap[K]) => void } = {
    hit: (event) => {
      hits.inc({ model: event.model, kind: event.kind, found: String(event.found) });
      lookups.observe({ model: event.model, kind: event.kind, result: 'hit' }, event.duration / 1000);
    },
    miss: (event) => {
      misses.inc({ model: event.model, kind: event.kind });
      lookups.observe({ model: event.model, kind: event.kind, result: 'miss' }, event.duration / 1000);
    },
    fill: (event) => fills.inc({ model: event.model, kind: event.kind }, event.entries),
    flush: (event) => flushed.inc({ model: event.model, delivered: String(event.delivered) }, event.keys),
    error: (event) => errors.inc({ model: event.model, operation: event.operation }),
  };
  const names = Object.keys(listeners) as CacheEventName[];
  for (const name of names) cacheEvents.on(name, listeners[name] as never);
  return () => {
    for (const name of names) cacheEvents.off(name, listeners[name] as never);
  };
}
