// OpenTelemetry metrics fed by the cache's events. The app sets up its MeterProvider (and exporter) as usual;
// `@opentelemetry/api` is all this needs, an optional peer of objection-cache.
import { metrics, type Meter } from '@opentelemetry/api';
import { cacheEvents, type CacheEventMap, type CacheEventName } from 'objection-cache';

/**
 * Counts hits, misses, fills, flushes and errors, and records the time of each lookup, per model and kind
 * (`row`, `query`, `value`). Returns a function that stops recording.
 */
export function recordCacheMetrics(meter: Meter = metrics.getMeter('objection-cache')): () => void {
  const hits = meter.createCounter('objection_cache.hits', { description: 'Keys, queries and values served from the cache' });
  const misses = meter.createCounter('objection_cache.misses', { description: 'Keys, queries and values read from the database' });
  const fills = meter.createCounter('objection_cache.fills', { description: 'Entries written to the store after a read' });
  const flushes = meter.createCounter('objection_cache.flushed_keys', { description: 'Keys deleted from the store by writes' });
  const errors = meter.createCounter('objection_cache.errors', { description: 'Store failures the cache stepped around' });
  const lookups = meter.createHistogram('objection_cache.lookup.duration', { unit: 'ms', description: 'Store read (hit) or database read (miss) per key' });

  const listeners: { [K in CacheEventName]?: (event: CacheEventMap[K]) => void } = {
    hit: (event) => {
      hits.add(1, { model: event.model, kind: event.kind, found: event.found });
      lookups.record(event.duration, { model: event.model, kind: event.kind, result: 'hit' });
    },
    miss: (event) => {
      misses.add(1, { model: event.model, kind: event.kind });
      lookups.record(event.duration, { model: event.model, kind: event.kind, result: 'miss' });
    },
    fill: (event) => fills.add(event.entries, { model: event.model, kind: event.kind }),
    flush: (event) => flushes.add(event.keys, { model: event.model, delivered: event.delivered }),
    error: (event) => errors.add(1, { model: event.model, operation: event.operation }),
  };
  const names = Object.keys(listeners) as CacheEventName[];
  for (const name of names) cacheEvents.on(name, listeners[name] as never);
  return () => {
    for (const name of names) cacheEvents.off(name, listeners[name] as never);
  };
}
