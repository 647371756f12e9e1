import { REMEMBERED_KEYS } from './keys.js';

/** Texts longer than this are opened every time: keeping them would cost more memory than opening costs time. */
export const LONGEST_TEXT_KEPT = 16_384;
/** All texts one memo keeps, in characters: about as much again is held by what they open to. */
export const CHARACTERS_KEPT = 2_097_152;
/** At most this many texts per memo. */
export const TEXTS_KEPT = REMEMBERED_KEYS;

interface Opened<V> {
  readonly text: string;
  readonly opened: V;
}

/**
 * What texts read lately opened to (a JSON parse, a decode), by where they were read. A hot key comes back from
 * a store as the same text read after read, until someone writes it: comparing it with the text kept (often the
 * same string, else a memory compare) replaces opening it again. Bounded in texts and in characters, and emptied
 * when full: hot texts are back after one read each.
 */
export class OpenedTexts<V> {
  private readonly kept = new Map<string, Opened<V>>();
  private characters = 0;

  constructor(private readonly open: (text: string) => V) {}

  /** What `text`, read at `key`, opens to. */
  of(key: string, text: string): V {
    if (text.length > LONGEST_TEXT_KEPT) {
      // what `key` held before is stale now (a memo keyed by the text itself never kept this one)
      if (key !== text) this.forget(key);
      return this.open(text);
    }
    const known = this.kept.get(key);
    if (known !== undefined && known.text === text) return known.opened;
    const opened = this.open(text);
    if (known !== undefined) this.forget(key);
    if (this.kept.size >= TEXTS_KEPT || this.characters + text.length > CHARACTERS_KEPT) {
      this.kept.clear();
      this.characters = 0;
    }
    this.kept.set(key, { text, opened });
    this.characters += text.length;
    return opened;
  }

  /** Nothing is kept for `key` any more (its value is gone). */
  forget(key: string): void {
    const known = this.kept.get(key);
    if (known === undefined) return;
    this.kept.delete(key);
    this.characters -= known.text.length;
  }
}
