import { openKeyvEnvelope, unexpired, type KeyvEnvelope } from '../core/internals.js';
import { REMEMBERED_KEYS } from '../core/keys.js';

interface Opened {
  /** The text the store answered. */
  readonly raw: string;
  readonly envelope: KeyvEnvelope | undefined;
}

/** Texts longer than this are opened every time: keeping them would cost more memory than their parse costs time. */
const LONGEST_KEPT = 16_384;
/** All texts kept, in characters: about as much again is held by what they open to. */
const CHARACTERS_KEPT = 2_097_152;

/**
 * The Keyv envelopes a driver read lately, by stored key, and what they open to. A hot key comes back from the
 * store as the same text read after read, until someone writes it: comparing the text with the one kept (a
 * memory compare) replaces JSON.parse of the envelope, which was a third of a hit's CPU on Redis. Reads only, so
 * a bulk write does not push hot keys out; bounded in keys and in characters, and emptied when full.
 */
export class OpenedEnvelopes {
  private readonly kept = new Map<string, Opened>();
  private characters = 0;

  /** The value of `raw`, the text read for `key`, unless it expired by `now`. */
  valueOf(key: string, raw: string | null, now: number): string | undefined {
    if (raw === null) {
      this.forget(key);
      return undefined;
    }
    let opened = this.kept.get(key);
    if (opened?.raw !== raw) {
      opened = { raw, envelope: openKeyvEnvelope(raw) };
      this.keep(key, opened);
    }
    return opened.envelope && unexpired(opened.envelope, now);
  }

  private keep(key: string, opened: Opened): void {
    this.forget(key);
    if (opened.raw.length > LONGEST_KEPT) return;
    // Full: start again. Hot keys are back after one read each; evicting the oldest one by one walked the Map's
    // deleted slots from its start on every read of a new key, which doubled the time of a scan of distinct keys.
    if (this.kept.size >= REMEMBERED_KEYS || this.characters + opened.raw.length > CHARACTERS_KEPT) {
      this.kept.clear();
      this.characters = 0;
    }
    this.kept.set(key, opened);
    this.characters += opened.raw.length;
  }

  private forget(key: string): void {
    const opened = this.kept.get(key);
    if (opened === undefined) return;
    this.kept.delete(key);
    this.characters -= opened.raw.length;
  }
}
