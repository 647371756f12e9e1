import { OpenedTexts } from '../core/opened-texts.js';
import { openKeyvEnvelope, unexpired } from '../core/internals.js';

/**
 * The Keyv envelopes a driver read lately, by stored key, and what they open to (core/opened-texts.ts): JSON.parse
 * of the envelope was a third of a hit's CPU on Redis. Reads only, so a bulk write does not push hot keys out.
 */
export class OpenedEnvelopes {
  private readonly texts = new OpenedTexts(openKeyvEnvelope);

  /** The value of `raw`, the text read for `key`, unless it expired by `now`. */
  valueOf(key: string, raw: string | null, now: number): string | undefined {
    if (raw === null) {
      this.texts.forget(key);
      return undefined;
    }
    const envelope = this.texts.of(key, raw);
    return envelope && unexpired(envelope, now);
  }

  /**
   * `valueOf` each text of `raws`, read for the keys of `keys` from `offset` on, in place: the reply array is the
   * caller's, and a hit then makes no second one.
   */
  valuesOf(keys: readonly string[], offset: number, raws: (string | null)[]): unknown[] {
    const now = Date.now();
    const values: unknown[] = raws;
    for (let i = 0; i < raws.length; i++) values[i] = this.valueOf(keys[i + offset]!, raws[i] ?? null, now);
    return values;
  }
}
