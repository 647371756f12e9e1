import type { EncodedRow } from '../core/codec.js';
import { isTokenKey } from '../core/keys.js';

/** What a row fill resolves to: the encoded row, or null where no row has the key (a miss). */
export type RowOrMiss = EncodedRow | null;

/** A `cached()` value or cached query being computed, and the token keys it was stamped against. */
export interface Computation {
  readonly deps: readonly string[];
  readonly outcome: Promise<unknown>;
}

/**
 * What a caller joins: a fill's promise, or the fill itself, which makes the promise the first time someone
 * joins (most fills are never joined, and their callers wait on a promise of their own).
 */
export type Joinable = Promise<RowOrMiss> | { join(): Promise<RowOrMiss> };

/** A row fill registered for callers to join: joinable until it ends, and the token stamping what it stores. */
export interface Fill {
  joinable: Joinable | undefined;
  /** Its cache's generation key: deleting it makes every fill stamped by it forgotten. */
  readonly stamp: string;
}

/**
 * Ended fills are deleted from the map in sweeps, at this many entries (or twice the fills then running): V8
 * shrinks a Map's table when its last entry is deleted, which measured 0.8 µs, a sixth of a Redis hit's CPU, when
 * each hit's fill came and went alone.
 */
const SWEEP_AT = 256;

/**
 * The reads of one store under way in this process, so that concurrent callers share one (single flight):
 * row fills by value key (reads/read-through.ts), and value computations by key (reads/stamped-read.ts).
 *
 * A flush makes them forget what it invalidates (`forget`), so no caller that starts after a flush joins a read
 * that began before it. The reads themselves carry on: their stamps are the deleted tokens, so what they store
 * is never served.
 */
export class InFlight {
  private readonly fills = new Map<string, Fill>();
  private sweepAt = SWEEP_AT;
  /** Fills started and not ended, joinable or forgotten by a flush. */
  private running = 0;
  readonly computations = new Map<string, Computation>();

  /** The fill of `key` a caller may join, if one is under way and no flush made it forget it. */
  fillOf(key: string): Joinable | undefined {
    return this.fills.get(key)?.joinable;
  }

  /**
   * Registers the fill of `key` for later callers to join, until `endFill`, or a flush of `key` or of its `stamp`
   * (the generation key its entry is stamped with).
   */
  startFill<F extends Fill>(key: string, fill: F): F {
    if (this.fills.size >= this.sweepAt) this.sweep();
    this.fills.set(key, fill);
    this.running++;
    return fill;
  }

  /** The fill settled: no one joins it any more. Its entry goes at the next sweep. */
  endFill(fill: Fill): void {
    if (fill.joinable === undefined) return;
    fill.joinable = undefined;
    this.running--;
  }

  /** How many fills are under way. */
  get fillsRunning(): number {
    return this.running;
  }

  private sweep(): void {
    for (const [key, fill] of this.fills) if (fill.joinable === undefined) this.fills.delete(key);
    this.sweepAt = Math.max(SWEEP_AT, 2 * this.fills.size);
  }

  /**
   * Forgets the fills of `keys`; the fills stamped by one of `keys` (a model's generation: every fill of the
   * models on its table in one database; a join table's token: its join lists); and every computation keyed by or
   * depending on one of `keys`.
   */
  forget(keys: readonly string[]): void {
    let deleted: Set<string> | undefined;
    if (this.fills.size > 0) {
      for (const key of keys) this.fills.delete(key);
      if (keys.some(isTokenKey)) {
        deleted = new Set(keys);
        for (const [key, fill] of this.fills) if (deleted.has(fill.stamp)) this.fills.delete(key);
      }
    }
    if (this.computations.size > 0) {
      const gone = (deleted ??= new Set(keys));
      for (const [key, computation] of this.computations) {
        if (gone.has(key) || computation.deps.some((dep) => gone.has(dep))) this.computations.delete(key);
      }
    }
  }
}
