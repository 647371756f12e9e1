import type { Knex } from 'knex';
import type { Model } from 'objection';
import { decodeRecord, encodeRecord, type CacheRecord } from '../core/codec.js';
import { lookupKeys, type EntryKeys } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';
import { asToken, newToken } from '../core/tokens.js';
import type { ModelCache } from '../config/settings.js';
import { STORE_DOWN, type Peekable, type StoreEntry } from '../store/guarded-store.js';
import type { Fill, InFlight, RowOrMiss } from '../store/in-flight.js';
import { loadRows, matchesOtherSpellings, matchesOwnSpellingOnly, type Loaded, type Loader } from './db-read.js';
import { observed, readsObserved } from '../core/events.js';
import { clock, filled, joined, noteSource, served, type ReadContext } from './read-events.js';
import { maybeVerify } from './verify.js';

export type { RowOrMiss };

/**
 * The fill of one key: registered for later callers to join until it settles. The caller that started it waits on
 * a promise of its own, of what it makes of the row (`wait`: a model instance, for `get`); the promise joiners
 * share is made when the first one joins. Most fills are never joined: a hit then makes one promise, not two.
 */
class Waiter implements Fill {
  readonly value: KeyValue;
  readonly keys: EntryKeys;
  /** Itself while callers may join it (store/in-flight.ts): the fill and its registration are one object. */
  joinable: Waiter | undefined;
  readonly stamp: string;
  private readonly inFlight: InFlight;
  private map: (row: RowOrMiss) => unknown = sameRow;
  private onRow!: (made: unknown) => void;
  private onError!: (error: unknown) => void;
  /** The promise of the callers that joined, and its settlers, once one has. */
  private shared: Promise<RowOrMiss> | undefined;
  private onSharedRow: ((row: RowOrMiss) => void) | undefined;
  private onSharedError: ((error: unknown) => void) | undefined;

  constructor(inFlight: InFlight, value: KeyValue, keys: EntryKeys, stamp: string) {
    this.inFlight = inFlight;
    this.value = value;
    this.keys = keys;
    this.joinable = this;
    this.stamp = stamp;
    inFlight.startFill(keys.value, this);
  }

  /** The starting caller's promise of `map(row)`, or of its error. Asked once, as the fill starts. */
  wait<T>(map: (row: RowOrMiss) => T): Promise<T> {
    this.map = map;
    return new Promise<T>((onRow, onError) => {
      this.onRow = onRow as (made: unknown) => void;
      this.onError = onError;
    });
  }

  /** The promise a later caller joins. */
  join(): Promise<RowOrMiss> {
    return (this.shared ??= new Promise<RowOrMiss>((onRow, onError) => {
      this.onSharedRow = onRow;
      this.onSharedError = onError;
    }));
  }

  /** Where the row came from, for the events of callers that joined (read-events.ts `joined`). */
  noteSource(holder: Parameters<typeof noteSource>[1]): void {
    if (this.shared) noteSource(this.shared, holder);
  }

  resolve(row: RowOrMiss): void {
    this.inFlight.endFill(this);
    this.onSharedRow?.(row);
    let made: unknown;
    try {
      made = this.map(row);
    } catch (error) {
      this.onError(error);
      return;
    }
    this.onRow(made);
  }

  reject(error: unknown): void {
    this.inFlight.endFill(this);
    this.onSharedError?.(error);
    this.onError(error);
  }
}

function sameRow(row: RowOrMiss): RowOrMiss {
  return row;
}

/** One batch of keys read through the cache: where from, and what its events name. */
interface RowRead extends ReadContext {
  readonly modelClass: typeof Model;
  readonly cache: ModelCache;
  readonly column: string;
  readonly knex: Knex;
  /** Someone listens for read events. */
  readonly events: boolean;
  /** How misses are read from the DB: rows by key (`loadRows`), or an index's lists of ids. */
  readonly load: Loader;
  /** The DB matches strings under other spellings (MySQL): misses under strings are not cached (db-read.ts). */
  readonly foldsStrings: boolean;
}

/** A key the store had no fresh entry for, and the guard token it will be stamped with. */
interface Miss {
  readonly waiter: Waiter;
  guard: string | undefined;
  /** Its entry past `ttl` but in `grace`, stamps standing: served if the DB read fails or is slow. */
  readonly graced?: CacheRecord;
  /** Answered already (from grace, while the DB read went on). */
  answered?: boolean;
}

/**
 * One call of `readThrough`: where it reads, what its events name (it is the `RowRead` of the fills it starts),
 * and the fills it starts. One object per call: a hit on Redis allocates as little as it can.
 */
class Reader implements RowRead {
  readonly store: ModelCache['store'];
  readonly model: string;
  readonly table: string;
  readonly kind = 'row';
  readonly events = readsObserved();
  /** Fills this call starts, sent together once this tick's promise jobs have run (`fillInTick`). */
  private batch: Waiter[] | undefined;
  // A store in this process's memory answers at once: a hit needs no fill and no promise of its own.
  private readonly local: Peekable | undefined;
  private readonly inFlight: InFlight;
  private folds: boolean | undefined;

  constructor(
    readonly modelClass: typeof Model,
    readonly cache: ModelCache,
    readonly column: string,
    readonly knex: Knex,
    readonly operation: string,
    readonly load: Loader,
  ) {
    this.store = cache.store;
    this.model = cache.modelName;
    this.table = cache.table;
    this.local = cache.store.degraded ? undefined : cache.store.local;
    this.inFlight = cache.store.state.inFlight;
  }

  /** Asked only of misses to store, so a hit never reads the knex's dialect. */
  get foldsStrings(): boolean {
    return (this.folds ??= matchesOtherSpellings(this.knex));
  }

  /**
   * What `map` makes of the row of `value`: at once from process memory, else once the fill that reads it (joined,
   * or started and batched) has it.
   */
  row<T>(value: KeyValue, map: (row: RowOrMiss) => T): T | Promise<T> {
    const keys = lookupKeys(this.cache.space, this.column, value);
    const fill = this.inFlight.fillOf(keys.value);
    if (!fill && this.local) {
      const [generation, guard, raw] = this.local.peek([this.cache.generationKey, keys.guard, keys.value]);
      const record = valid(decodeRecord(raw), asToken(generation), asToken(guard));
      if (record && fresh(record)) {
        if (this.events) served(this, value, { fromCache: true, found: record.row !== null, duration: 0 }, false);
        maybeVerify(this, value, keys, record);
        return map(record.row);
      }
    }
    if (fill) {
      const shared = fill instanceof Promise ? fill : fill.join();
      if (this.events) joined(this, value, shared);
      return map === sameRow ? (shared as Promise<T>) : shared.then(map);
    }
    const waiter = new Waiter(this.inFlight, value, keys, this.cache.generationKey);
    // a literal, not `[]` and a push: an empty array's first push makes room for 17
    if (this.batch) this.batch.push(waiter);
    else this.batch = [waiter];
    return waiter.wait(map);
  }

  /** Sends the fills this call started, with the rest of this tick's. */
  send(): void {
    if (this.batch) fillInTick(this, this.batch);
  }
}

/**
 * Reads `values` of `column` through the cache: one store read for all of them; for those that missed, one
 * store write of any missing tokens, one DB query and one store write of the fills. Values already being
 * filled by another caller join that fill (single flight). The DB is read through `knex`, whose database
 * `cache` is scoped to. `operation` names the public call in events. `load` reads what missed: one row per key
 * value, or (reads/list-read.ts) the ids of the rows holding an index value.
 */
export function readThrough(
  modelClass: typeof Model,
  cache: ModelCache,
  column: string,
  values: readonly KeyValue[],
  knex: Knex,
  operation: string,
  load: Loader = loadRows,
): Promise<RowOrMiss[]> {
  const reader = new Reader(modelClass, cache, column, knex, operation, load);
  const rows = values.map((value) => reader.row(value, sameRow));
  reader.send();
  return Promise.all(rows);
}

/**
 * `readThrough` of one value, as `get` needs it: what `map` makes of the row (the model instance), at once when
 * process memory answers, else on the fill's own promise (no array, no `Promise.all`, no promise of the row and
 * another of its model: a hit on Redis is a few promise jobs shorter).
 */
export function readOneThrough<T>(
  modelClass: typeof Model,
  cache: ModelCache,
  column: string,
  value: KeyValue,
  knex: Knex,
  operation: string,
  map: (row: RowOrMiss) => T,
): T | Promise<T> {
  const reader = new Reader(modelClass, cache, column, knex, operation, loadRows);
  const made = reader.row(value, map);
  reader.send();
  return made;
}

/** Fills held until the promise jobs of this tick have run, each with the read its waiters share. */
let held: { read: RowRead; waiters: Waiter[] }[] | undefined;

/**
 * Batching in a tick, as DataLoader does it: the fills that lookups start while this tick's promise jobs run (a
 * GraphQL resolver per field, a template loop, `Promise.all` over `get`s) are held until those jobs are done,
 * and the fills of one read (model class, column, knex, operation) go as one: one store read, at most one DB
 * query. Keys already being filled were joined by `readThrough` before this (single flight), so no key is
 * filled twice. A hit from process memory is answered before any of this.
 */
function fillInTick(read: RowRead, waiters: Waiter[]): void {
  if (!held) {
    held = [{ read, waiters }];
    // DataLoader's schedule: after the promise jobs queued so far (await chains), before any I/O callback.
    // (Node's queueMicrotask measured slower: it wraps each callback in an AsyncResource.)
    void SETTLED.then(releaseNextTick);
    return;
  }
  for (const batch of held) {
    if (sameRead(batch.read, read)) {
      batch.waiters.push(...waiters);
      return;
    }
  }
  held.push({ read, waiters });
}

const SETTLED = Promise.resolve();
const releaseNextTick = (): void => process.nextTick(releaseHeld);

function releaseHeld(): void {
  const batches = held ?? [];
  held = undefined;
  for (const { read, waiters } of batches) fillRows(read, waiters);
}

function sameRead(a: RowRead, b: RowRead): boolean {
  return (
    a.modelClass === b.modelClass &&
    a.cache === b.cache &&
    a.column === b.column &&
    a.knex === b.knex &&
    a.operation === b.operation &&
    a.events === b.events &&
    a.load === b.load
  );
}

/** The record, if both its stamps are the current tokens. */
function valid(record: CacheRecord | undefined, generation: string | undefined, guard: string | undefined): CacheRecord | undefined {
  return record && generation !== undefined && record.generation === generation && record.guard === guard ? record : undefined;
}

/**
 * The race guard. Every fill is stamped with the model's generation token and the key's guard token as they
 * stood before the DB read; a flush deletes the guard (and flushAll the generation). A record counts only while
 * both stamps still match, so a fill that read the old row before a flush, and stored it after, is never served:
 * its guard is gone, and tokens are random, so it never comes back. Missing tokens are created before the DB read.
 *
 * Not an async function up to the store's reply: a hit then suspends no frame and makes no promise of its own
 * (an async function's suspended frame holds every local of its later steps: about 500 bytes of a hit's garbage).
 */
function fillRows(read: RowRead, batch: readonly Waiter[]): void {
  if (read.cache.store.degraded) {
    void fillDegraded(read, batch);
    return;
  }
  try {
    const { cache, events } = read;
    const { store } = cache;
    const asked = clock(events);
    const keys = new Array<string>(1 + 2 * batch.length);
    keys[0] = cache.generationKey;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!.keys;
      keys[1 + 2 * i] = entry.guard;
      keys[2 + 2 * i] = entry.value;
    }
    // On Redis the read creates the missing tokens in the same round trip (a cold fill: read, DB, fill); elsewhere
    // missingTokens writes them after the read.
    const reading = store.createsTokens ? store.readCreating(keys, isTokenAt, cache.tokenTtl) : store.getMany(keys);
    reading.then(
      (raw) => {
        try {
          const stored = raw === STORE_DOWN ? undefined : asToken(raw[0]);
          const misses = serveHits(read, batch, raw, stored, clock(events) - asked);
          if (misses.length > 0) void fillMisses(read, batch, misses, raw !== STORE_DOWN, stored);
        } catch (error) {
          rejectAll(batch, error);
        }
      },
      (error: unknown) => rejectAll(batch, error),
    );
  } catch (error) {
    rejectAll(batch, error);
  }
}

/** A failure the store layer does not absorb (the DB read, a listener, a bug) reaches every caller of the batch. */
function rejectAll(batch: readonly Waiter[], error: unknown): void {
  for (const waiter of batch) waiter.reject(error);
}

/**
 * A flush of this process has not reached the store yet: its entries cannot be trusted. Once it lands the fill
 * goes on as usual; until then the DB answers.
 */
async function fillDegraded(read: RowRead, batch: readonly Waiter[]): Promise<void> {
  try {
    if (await read.cache.store.recover()) {
      fillRows(read, batch);
      return;
    }
    const started = clock(read.events);
    const found = await read.load(
      read.modelClass,
      read.column,
      batch.map((waiter) => waiter.value),
      read.knex,
    );
    const duration = clock(read.events) - started;
    batch.forEach((waiter, i) => answer(read, waiter, found[i]?.row ?? null, false, duration));
  } catch (error) {
    rejectAll(batch, error);
  }
}

/**
 * The misses of a store read: their missing tokens written (unless the store is down: `storable` false), one DB
 * query, and the fills stamped with the tokens as they stood before it.
 */
async function fillMisses(read: RowRead, batch: readonly Waiter[], misses: Miss[], storable: boolean, stored: string | undefined): Promise<void> {
  try {
    const { cache, events } = read;
    const { store } = cache;
    const generation = stored ?? newToken();
    // With the store down there is nothing to stamp or store: read the DB and step aside.
    const stamped = storable && (await store.setMany(missingTokens(cache, stored, generation, misses)));
    const started = clock(events);
    const reading = read.load(
      read.modelClass,
      read.column,
      misses.map((miss) => miss.waiter.value),
      read.knex,
    );
    const found = misses.some((miss) => miss.graced) ? await withGrace(read, misses, reading) : await reading;
    const duration = clock(events) - started;
    const rows = found.map((loaded) => loaded?.row ?? null);
    if (stamped) {
      const fills = fillsOf(read, generation, misses, found, rows);
      const writing = clock(events);
      await store.setMany(fills);
      if (events) filled(read, fills.length, clock(events) - writing);
    }
    misses.forEach((miss, i) => {
      if (!miss.answered) answer(read, miss.waiter, rows[i]!, false, duration);
    });
  } catch (error) {
    rejectAll(batch, error);
  }
}

/** True while a record is fresh: always without grace, until its `freshUntil` with it. */
function fresh(record: CacheRecord): boolean {
  return record.freshUntil === undefined || Date.now() <= record.freshUntil;
}

/**
 * The DB read of misses some of which have an entry in grace: those are answered from it if the read fails (the
 * others then fail with the DB's error) or, with `graceTimeout`, takes longer than that (the read goes on and
 * fills as usual). Only entries whose stamps still stand when that happens are served: a write that flushed one
 * meanwhile is never undone by grace.
 */
async function withGrace(read: RowRead, misses: Miss[], reading: Promise<(Loaded | undefined)[]>): Promise<(Loaded | undefined)[]> {
  const { graceTimeout } = read.cache;
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<'timeout'>((resolve) => {
    if (graceTimeout > 0) timer = setTimeout(() => resolve('timeout'), graceTimeout);
  });
  try {
    const first = await Promise.race([reading, slow]);
    if (first !== 'timeout') return first;
    await answerFromGrace(read, misses, 'timeout');
    return await reading;
  } catch (error) {
    await answerFromGrace(read, misses, 'error', error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Answers the misses in grace whose stamps still stand (read again now), and reports each through events. */
async function answerFromGrace(read: RowRead, misses: Miss[], reason: 'error' | 'timeout', error?: unknown): Promise<void> {
  const graced = misses.filter((miss) => miss.graced && !miss.answered);
  if (graced.length === 0) return;
  const { cache } = read;
  const stamps = await cache.store.getMany([cache.generationKey, ...graced.map((miss) => miss.waiter.keys.guard)]);
  if (stamps === STORE_DOWN) return;
  const now = Date.now();
  graced.forEach((miss, i) => {
    const record = valid(miss.graced, asToken(stamps[0]), asToken(stamps[1 + i]));
    if (!record) return;
    miss.answered = true;
    if (observed('grace')) {
      cache.store.publish('grace', {
        model: cache.modelName,
        table: cache.table,
        operation: read.operation,
        kind: 'row',
        column: read.column,
        key: miss.waiter.value,
        found: record.row !== null,
        reason,
        age: now - (record.freshUntil ?? now),
        ...(reason === 'error' ? { error } : {}),
      });
    }
    answer(read, miss.waiter, record.row, true, 0);
  });
}

/** Resolves a waiter, after noting (for events) where its row came from. */
function answer(read: RowRead, waiter: Waiter, row: RowOrMiss, fromCache: boolean, duration: number): void {
  if (read.events) {
    const source = { fromCache, found: row !== null, duration };
    waiter.noteSource({ source });
    served(read, waiter.value, source, false);
  }
  waiter.resolve(row);
}

/** Resolves the waiters whose records are valid; the others are the misses, with the guard the store holds. */
function serveHits(
  read: RowRead,
  batch: readonly Waiter[],
  raw: readonly unknown[] | typeof STORE_DOWN,
  generation: string | undefined,
  duration: number,
): Miss[] {
  const misses: Miss[] = [];
  for (let i = 0; i < batch.length; i++) {
    const waiter = batch[i]!;
    const guard = raw === STORE_DOWN ? undefined : asToken(raw[1 + 2 * i]);
    const record = raw === STORE_DOWN ? undefined : valid(decodeRecord(raw[2 + 2 * i]), generation, guard);
    if (record && fresh(record)) {
      maybeVerify(read, waiter.value, waiter.keys, record);
      answer(read, waiter, record.row, true, duration);
    } else {
      misses.push(record ? { waiter, guard, graced: record } : { waiter, guard });
    }
  }
  return misses;
}

/** Which of a fill's keys are tokens: the generation and each guard (the entries sit at even places after it). */
function isTokenAt(index: number): boolean {
  return index === 0 || index % 2 === 1;
}

/** The tokens to create before the DB read: the generation if the store had none, and each miss's guard. */
function missingTokens(cache: ModelCache, stored: string | undefined, generation: string, misses: Miss[]): StoreEntry[] {
  const tokens: StoreEntry[] = [];
  if (stored === undefined) tokens.push({ key: cache.generationKey, value: generation, ttl: cache.tokenTtl });
  for (const miss of misses) {
    if (miss.guard !== undefined) continue;
    miss.guard = newToken();
    tokens.push({ key: miss.waiter.keys.guard, value: miss.guard, ttl: cache.tokenTtl });
  }
  return tokens;
}

/**
 * The entries to store: each row found, and each miss that no row of another spelling could answer, stamped with
 * the tokens read or created before the DB read.
 */
function fillsOf(read: RowRead, generation: string, misses: readonly Miss[], found: readonly (Loaded | undefined)[], rows: readonly RowOrMiss[]): StoreEntry[] {
  const { cache } = read;
  const fills: StoreEntry[] = [];
  misses.forEach((miss, i) => {
    const hit = found[i];
    const { keys } = miss.waiter;
    const cacheableMiss = matchesOwnSpellingOnly(read.column, miss.waiter.value, read.foldsStrings, keys.missCacheable);
    if (!(hit ? hit.exact : cacheableMiss)) return;
    const ttl = hit ? cache.ttl : cache.missTtl;
    // with grace an entry outlives its ttl in the store, and says when it stopped being fresh
    const graced = cache.grace > 0 && ttl > 0;
    const value = graced ? encodeRecord(generation, miss.guard!, rows[i]!, Date.now() + ttl) : encodeRecord(generation, miss.guard!, rows[i]!);
    fills.push({ key: miss.waiter.keys.value, value, ttl: graced ? ttl + cache.grace : ttl });
  });
  return fills;
}
