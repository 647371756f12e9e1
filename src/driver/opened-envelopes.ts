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
}
