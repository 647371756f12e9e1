import { channel, type Channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import type { CacheEventMap, CacheEventName } from './public-types.js';

/**
 * What the cache tells the app: every event on `cacheEvents` (an EventEmitter) and on the diagnostics channel
 * `objection-cache:<event>`. Nothing is built while nobody listens: `observed(name)` is a field read and a
 * getter, so a hit pays for events only when someone subscribed.
 */
export const cacheEvents = new EventEmitter<{ [K in CacheEventName]: [CacheEventMap[K]] }>();

export const CACHE_EVENT_NAMES: readonly CacheEventName[] = ['hit', 'miss', 'fill', 'flush', 'error', 'breaker', 'stale', 'grace'];

const channels = Object.fromEntries(CACHE_EVENT_NAMES.map((name) => [name, channel(`objection-cache:${name}`)])) as Record<CacheEventName, Channel>;

/** Whether `cacheEvents` has listeners, per event, kept up to date as listeners come and go. */
const listening = Object.fromEntries(CACHE_EVENT_NAMES.map((name) => [name, false])) as Record<CacheEventName, boolean>;

// `newListener` fires before the listener is added, `removeListener` after it is gone.
const watchListeners = cacheEvents as unknown as EventEmitter;
watchListeners.on('newListener', (name: string | symbol) => {
  if (name in listening) listening[name as CacheEventName] = true;
});
watchListeners.on('removeListener', (name: string | symbol) => {
  if (name in listening) listening[name as CacheEventName] = watchListeners.listenerCount(name) > 0;
});

/** True when someone listens for `name` on the emitter or the channel. */
export function observed(name: CacheEventName): boolean {
  return listening[name] || channels[name].hasSubscribers;
}

const { hit, miss, fill } = channels;

/** True when someone listens for any read event (hit, miss, fill): what every lookup asks first. */
export function readsObserved(): boolean {
  return listening.hit || listening.miss || listening.fill || hit.hasSubscribers || miss.hasSubscribers || fill.hasSubscribers;
}

/**
 * Sends `message` to the listeners of `name`. Answers the error a listener threw (the caller reports it through
 * `onError`), never throws: a listener must not turn a good lookup into an error. Channel subscribers that throw
 * are reported by Node itself (diagnostics_channel rethrows on the next tick).
 */
export function publish<K extends CacheEventName>(name: K, message: CacheEventMap[K]): unknown {
  if (channels[name].hasSubscribers) channels[name].publish(message);
  try {
    (cacheEvents.emit as (name: K, message: CacheEventMap[K]) => boolean)(name, message);
  } catch (error) {
    return error;
  }
  return undefined;
}
