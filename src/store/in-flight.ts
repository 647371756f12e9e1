import type { EncodedRow } from '../core/codec.js';
import { isGenerationKey, tagOf } from '../core/keys.js';

/** What a row fill resolves to: the encoded row, or null where no row has the key (a miss). */
export type RowOrMiss = EncodedRow | null;

/** A `cached()` value or cached query being computed, and the token keys it was stamped against. */
export interface Computation {
  readonly deps: readonly string[];
  readonly outcome: Promise<unknown>;
}

/**
 * The reads of one store under way in this process, so that concurrent callers share one (single flight):
 * row fills by value key (reads/read-through.ts), and value computations by key (reads/stamped-read.ts).
 *
 * A flush makes them forget what it invalidates (`forget`), so no caller that starts after a flush joins a read
 * that began before it. The reads themselves carry on: their stamps are the deleted tokens, so what they store
 * is never served.
 */
export class InFlight {
  readonly fills = new Map<string, Promise<RowOrMiss>>();
  readonly computations = new Map<string, Computation>();

  /**
   * Forgets the fills of `keys`; for a generation key, every fill under its hash tag (the model's entries in
   * one database); and every computation keyed by or depending on one of `keys`.
   */
  forget(keys: readonly string[]): void {
    if (this.fills.size > 0) {
      for (const key of keys) {
        this.fills.delete(key);
        if (isGenerationKey(key)) this.forgetFillsUnder(tagOf(key));
      }
    }
    if (this.computations.size > 0) {
      const deleted = new Set(keys);
      for (const [key, computation] of this.computations) {
        if (deleted.has(key) || computation.deps.some((dep) => deleted.has(dep))) this.computations.delete(key);
      }
    }
  }

  private forgetFillsUnder(tag: string): void {
    const prefix = `${tag}:`;
    for (const key of this.fills.keys()) if (key.startsWith(prefix)) this.fills.delete(key);
  }
}
