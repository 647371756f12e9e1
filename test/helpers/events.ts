import type { ExecutionContext } from 'ava';
import { cacheEvents, type CacheEventMap, type CacheEventName } from 'objection-cache';

/** Every `name` event from now until the test ends, in order. */
export function listen<K extends CacheEventName>(t: ExecutionContext, name: K): CacheEventMap[K][] {
  const seen: CacheEventMap[K][] = [];
  const listener = ((event: CacheEventMap[K]) => void seen.push(event)) as never;
  cacheEvents.on(name, listener);
  t.teardown(() => void cacheEvents.off(name, listener));
  return seen;
}
