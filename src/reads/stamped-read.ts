import { decodeRecord, encodeRecord, type EncodedRow } from '../core/codec.js';
import { readsObserved } from '../core/events.js';
import { asToken, newToken } from '../core/tokens.js';
import { STORE_DOWN, type GuardedStore, type StoreEntry } from '../store/guarded-store.js';
import type { Computation } from '../store/in-flight.js';
import { clock, filled, joined, noteSource, served, type ReadContext, type SourceHolder } from './read-events.js';

/**
 * Read-through for values stamped with the tokens they depend on rather than with one row's: cached query results
 * (which depend on the tokens of the tables they read) and `cached()` values (tables, or single rows' guards).
 *
 * The race guard is the natural-key cache's: the value is stamped with the tokens as they stood before it was
 * computed, missing tokens are created before that, and every write deletes the tokens it invalidates. A value
 * computed from data read before a write, and stored after it, carries a token that no longer exists and is
 * never served. Tokens are random, so a deleted one never comes back.
 */

/** Where a value lives and what invalidates it. */
export interface StampedEntry {
  readonly key: string;
  /** Token keys; deleting any of them invalidates the value. Sorted, so the stamp is the same in every process. */
  readonly deps: readonly string[];
  /** Lifetime of the value in ms; 0 keeps it until invalidated. */
  readonly ttl: number;
  /** Lifetime of the tokens of the model (or settings) the value belongs to; stretched here to outlive `ttl`. */
  readonly tokenTtl: number;
  /** What its events name (model, table, operation, kind), and the app's key for a `cached()` value. */
  readonly about: Omit<ReadContext, 'store'> & { readonly key?: string };
}

/** How a value becomes a string and back. `encode` answers undefined for a value that cannot be cached. */
export interface ValueCodec<T> {
  encode(value: T): EncodedRow | null | undefined;
  decode(row: EncodedRow | null): T;
}

/** A value's encoding, or UNCACHEABLE when it could not be encoded (each caller then computes its own). */
type Outcome = EncodedRow | null | typeof UNCACHEABLE;
const UNCACHEABLE = Symbol('uncacheable');

/** The value of `entry`: from the store when its stamp is current, else computed by `load` and stored. */
export async function stampedRead<T>(store: GuardedStore, entry: StampedEntry, load: () => Promise<T>, codec: ValueCodec<T>): Promise<T> {
  const computations = store.state.inFlight.computations;
  const read: ReadContext | undefined = readsObserved() ? { store, ...entry.about } : undefined;
  const shared = computations.get(entry.key);
  if (shared) {
    if (read) joined(read, entry.about.key, shared.outcome);
    const outcome = (await shared.outcome) as Outcome;
    return outcome === UNCACHEABLE ? load() : codec.decode(outcome);
  }
  let loaded: { value: T } | undefined;
  const holder: SourceHolder = {};
  const outcome = readOrLoad(
    store,
    entry,
    async () => {
      const value = await load();
      loaded = { value };
      return value;
    },
    codec,
    read && { read, holder },
  );
  if (read) noteSource(outcome, holder);
  const computation: Computation = { deps: entry.deps, outcome };
  computations.set(entry.key, computation);
  const land = () => {
    if (computations.get(entry.key) === computation) computations.delete(entry.key);
  };
  outcome.then(land, land);
  const result = await outcome;
  if (read && holder.source) served(read, entry.about.key, holder.source, false);
  if (loaded) return loaded.value;
  return result === UNCACHEABLE ? load() : codec.decode(result);
}

/** Who listens to a read's events, and where its answer came from (filled in as the read goes). */
interface Watched {
  readonly read: ReadContext;
  readonly holder: SourceHolder;
}

async function readOrLoad<T>(store: GuardedStore, entry: StampedEntry, load: () => Promise<T>, codec: ValueCodec<T>, watched?: Watched): Promise<Outcome> {
  const events = watched !== undefined;
  const computed = async (): Promise<T> => {
    const started = clock(events);
    const value = await load();
    if (watched) watched.holder.source = { fromCache: false, found: true, duration: clock(events) - started };
    return value;
  };
  if (store.degraded && !(await store.recover())) {
    // A flush of this process has not reached the store: its entries cannot be trusted.
    await computed();
    return UNCACHEABLE;
  }
  const asked = clock(events);
  const raw = await store.getMany([...entry.deps, entry.key]);
  if (raw === STORE_DOWN) {
    // The store is down: compute, and store nothing.
    await computed();
    return UNCACHEABLE;
  }
  const tokens = entry.deps.map((_, i) => asToken(raw[i]));
  const record = decodeRecord(raw[entry.deps.length]);
  if (record && record.guard === STAMPED && tokens.every((token) => token !== undefined) && record.generation === stamp(tokens)) {
    if (watched) watched.holder.source = { fromCache: true, found: true, duration: clock(events) - asked };
    return record.row;
  }
  const created: StoreEntry[] = [];
  const current = tokens.map((token, i) => {
    if (token !== undefined) return token;
    const fresh = newToken();
    created.push({ key: entry.deps[i]!, value: fresh, ttl: outliving(entry) });
    return fresh;
  });
  const storable = await store.setMany(created);
  const value = await computed();
  let encoded: EncodedRow | null | undefined;
  try {
    encoded = codec.encode(value);
  } catch {
    encoded = undefined; // a value the codec cannot represent is served, not cached
  }
  if (encoded === undefined) return UNCACHEABLE;
  if (storable) {
    const writing = clock(events);
    await store.setMany([{ key: entry.key, value: encodeRecord(stamp(current), STAMPED, encoded), ttl: entry.ttl }]);
    if (watched) filled(watched.read, 1, clock(events) - writing);
  }
  return encoded;
}

/** Tokens must outlive the values stamped with them; 0 (no expiry) wins either way. */
function outliving(entry: StampedEntry): number {
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
