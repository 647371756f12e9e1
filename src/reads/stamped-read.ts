import type Keyv from 'keyv';
import { decodeRecord, encodeRecord, type EncodedRow } from '../core/codec.js';
import type { GuardedStore, StoreEntry } from '../store/guarded-store.js';
import { asToken, newToken } from './read-through.js';

/**
 * Read-through for values that depend on version tokens rather than on one row: cached query results (which
 * depend on the versions of the tables they read) and `cached()` values (tables, or single rows' guards).
 *
 * The race guard is the natural-key cache's: the value is stamped with the tokens as they stood before it was
 * computed, missing tokens are created before that, and every write deletes the tokens it invalidates. A value
 * computed from data read before a write, and stored after it, carries a token that no longer exists and is
 * never served. Tokens are random, so a deleted one never comes back.
 */

/** Where a value lives and what invalidates it. */
export interface VersionedEntry {
  readonly key: string;
  /** Token keys; deleting any of them invalidates the value. Sorted, so the stamp is the same in every process. */
  readonly deps: readonly string[];
  /** Lifetime of the value in ms; 0 keeps it until invalidated. */
  readonly ttl: number;
  /** Lifetime of the tokens of the model (or settings) the value belongs to; stretched here to outlive `ttl`. */
  readonly tokenTtl: number;
}

/** How a value becomes a string and back. `encode` answers undefined for a value that cannot be cached. */
export interface ValueCodec<T> {
  encode(value: T): EncodedRow | null | undefined;
  decode(row: EncodedRow | null): T;
}

/** A value's encoding, or UNCACHEABLE when it could not be encoded (each caller then computes its own). */
type Outcome = EncodedRow | null | typeof UNCACHEABLE;
const UNCACHEABLE = Symbol('uncacheable');

interface Flight {
  readonly deps: readonly string[];
  readonly outcome: Promise<Outcome>;
}

/** Computations under way, per store, by value key: later callers for the same key join them (single flight). */
const flightsByStore = new WeakMap<Keyv, Map<string, Flight>>();

function flightsOf(keyv: Keyv): Map<string, Flight> {
  let flights = flightsByStore.get(keyv);
  if (!flights) flightsByStore.set(keyv, (flights = new Map()));
  return flights;
}

/**
 * Lets go of every computation under way that depends on one of `deleted` (or whose key is one of them), so
 * that no caller starting after a write joins a computation that read before it.
 */
export function detachVersionedFlights(keyv: Keyv, deleted: ReadonlySet<string>): void {
  const flights = flightsByStore.get(keyv);
  if (!flights || flights.size === 0) return;
  for (const [key, flight] of flights) {
    if (deleted.has(key) || flight.deps.some((dep) => deleted.has(dep))) flights.delete(key);
  }
}

/** The value of `entry`: from the store when its stamp is current, else computed by `load` and stored. */
export async function versionedRead<T>(store: GuardedStore, entry: VersionedEntry, load: () => Promise<T>, codec: ValueCodec<T>): Promise<T> {
  const flights = flightsOf(store.keyv);
  const joined = flights.get(entry.key);
  if (joined) {
    const outcome = await joined.outcome;
    return outcome === UNCACHEABLE ? load() : codec.decode(outcome);
  }
  let loaded: { value: T } | undefined;
  const outcome = readOrLoad(store, entry, async () => {
    const value = await load();
    loaded = { value };
    return value;
  }, codec);
  const flight: Flight = { deps: entry.deps, outcome };
  flights.set(entry.key, flight);
  const land = () => {
    if (flights.get(entry.key) === flight) flights.delete(entry.key);
  };
  outcome.then(land, land);
  const result = await outcome;
  if (loaded) return loaded.value;
  return result === UNCACHEABLE ? load() : codec.decode(result);
}

async function readOrLoad<T>(store: GuardedStore, entry: VersionedEntry, load: () => Promise<T>, codec: ValueCodec<T>): Promise<Outcome> {
  if (store.degraded && !(await store.recover())) {
    // A flush of this process has not reached the store: its entries cannot be trusted.
    await load();
    return UNCACHEABLE;
  }
  const raw = await store.getMany([...entry.deps, entry.key]);
  const tokens = entry.deps.map((_, i) => asToken(raw?.[i]));
  const record = decodeRecord(raw?.[entry.deps.length]);
  if (record && record.guard === STAMPED && tokens.every((token) => token !== undefined) && record.generation === stamp(tokens)) {
    return record.row;
  }
  if (raw === undefined) {
    // The store is down: compute, and store nothing.
    await load();
    return UNCACHEABLE;
  }
  const created: StoreEntry[] = [];
  const current = tokens.map((token, i) => {
    if (token !== undefined) return token;
    const fresh = newToken();
    created.push({ key: entry.deps[i]!, value: fresh, ttl: outliving(entry) });
    return fresh;
  });
  const storable = await store.setMany(created);
  const value = await load();
  let encoded: EncodedRow | null | undefined;
  try {
    encoded = codec.encode(value);
  } catch {
    encoded = undefined; // a value the codec cannot represent is served, not cached
  }
  if (encoded === undefined) return UNCACHEABLE;
  if (storable) await store.setMany([{ key: entry.key, value: encodeRecord(stamp(current), STAMPED, encoded), ttl: entry.ttl }]);
  return encoded;
}

/** Tokens must outlive the values stamped with them; 0 (no expiry) wins either way. */
function outliving(entry: VersionedEntry): number {
  return entry.ttl === 0 || entry.tokenTtl === 0 ? 0 : Math.max(entry.tokenTtl, 2 * entry.ttl);
}

/**
 * Records reuse the natural-key cache's layout (codec.ts `encodeRecord`): the stamp where a row keeps its
 * generation token, and this marker where a row keeps its guard. With no dependency the stamp is `-`.
 */
const STAMPED = 'v';

function stamp(tokens: readonly (string | undefined)[]): string {
  return tokens.length === 0 ? '-' : tokens.join('.');
}
