import { OpenedTexts } from './opened-texts.js';

/**
 * Faithful serialization of DB rows to a string. Keyv's default JSON turns Dates into strings and Buffers into
 * objects; this codec tags them so a row read back from any store (memory or Redis) equals the row the DB gave.
 *
 * Tags are single-key objects whose key starts with `~`. A plain object with a key starting with `~` is wrapped
 * as `{"~o": {...}}` so user JSON can never be mistaken for a tag. Decoding builds fresh objects and defines
 * `__proto__` as an own property, as JSON.parse does, so a cached JSON column cannot change any prototype.
 */

/** Set while encoding when a tag was written (see `tag`); read by `encodeRow`. */
let tagsWritten = false;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function encodeValue(value: unknown): Json {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : tag('~n', String(value));
    case 'bigint':
      return tag('~b', value.toString());
    case 'object':
      return encodeObject(value);
    default:
      throw new TypeError(`objection-cache: cannot cache a ${typeof value} column value`);
  }
}

function encodeObject(value: object): Json {
  if (value instanceof Date) return tag('~d', Number.isNaN(value.getTime()) ? null : value.toISOString());
  if (value instanceof Uint8Array) return tag('~x', Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  if (Array.isArray(value)) return value.map(encodeValue);
  const out: { [key: string]: Json } = {};
  let escape = false;
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (key.startsWith('~')) escape = true;
    defineOwn(out, key, encodeValue(item));
  }
  return escape ? tag('~o', out) : out;
}

function tag(name: string, payload: Json): Json {
  tagsWritten = true;
  return { [name]: payload };
}

function decodeValue(value: Json): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decodeValue);
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0]!.startsWith('~')) {
    const payload = value[keys[0]!]!;
    switch (keys[0]) {
      case '~n':
        return Number(payload);
      case '~b':
        return BigInt(payload as string);
      case '~d':
        return new Date(payload === null ? Number.NaN : (payload as string));
      case '~x':
        return Buffer.from(payload as string, 'base64');
      case '~o':
        return decodeObject(payload as { [key: string]: Json });
    }
  }
  return decodeObject(value);
}

function decodeObject(value: { [key: string]: Json }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) defineOwn(out, key, decodeValue(value[key]!));
  return out;
}

function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * A row ready to be handed out: its JSON text, and whether that text holds tags to decode. Every reader parses
 * the text itself, so every reader gets objects of its own; an untagged row needs no second pass.
 */
export interface EncodedRow {
  readonly json: string;
  readonly tagged: boolean;
}

/** What a value key holds: the row (or null for a cached miss), stamped with the generation and guard it was read under. */
export interface CacheRecord {
  readonly generation: string;
  readonly guard: string;
  readonly row: EncodedRow | null;
  /**
   * With `grace`: when the row stops being fresh (ms since the epoch). The store keeps it `grace` longer, to be
   * served only when the database fails. Absent without grace.
   */
  readonly freshUntil?: number;
}

export function encodeRow(row: object): EncodedRow {
  tagsWritten = false;
  const json = JSON.stringify(encodeValue(row));
  return { json, tagged: tagsWritten };
}

/**
 * A record is `generation \n guard \n t|p|m \n json`: tokens are base64url, so the stamps can be checked without
 * parsing the row, and the row text is handed on as it is (t: tagged JSON, p: plain JSON, m: a cached miss).
 * With grace the kind is upper case (T, P, M) and a line with the time the row stops being fresh comes before the
 * JSON; releases without grace read such a record as no entry (and fill it again), never as a fresh one.
 */
export function encodeRecord(generation: string, guard: string, row: EncodedRow | null, freshUntil?: number): string {
  const kind = row === null ? 'm' : row.tagged ? 't' : 'p';
  if (freshUntil === undefined) return `${generation}\n${guard}\n${kind}\n${row?.json ?? ''}`;
  return `${generation}\n${guard}\n${kind.toUpperCase()}\n${freshUntil}\n${row?.json ?? ''}`;
}

/** Records decoded lately, by their text: a hot key's record comes back as the same text read after read. */
const decodedRecords = new OpenedTexts((raw) => openRecord(raw));

/**
 * The record a value key holds, or undefined for anything that is not one. Decoded once per text: the row in it
 * is then parsed once too (`decodeRow`), which was the largest part of a hit's CPU.
 */
export function decodeRecord(raw: unknown): CacheRecord | undefined {
  return typeof raw === 'string' ? decodedRecords.of(raw, raw) : undefined;
}

function openRecord(raw: string): CacheRecord | undefined {
  const a = raw.indexOf('\n');
  const b = raw.indexOf('\n', a + 1);
  const c = raw.indexOf('\n', b + 1);
  if (a < 1 || b < a + 2 || c !== b + 2) return undefined;
  let kind = raw[b + 1];
  let json = c + 1;
  let freshUntil: number | undefined;
  if (kind === 'M' || kind === 'T' || kind === 'P') {
    const d = raw.indexOf('\n', c + 1);
    freshUntil = Number(raw.slice(c + 1, d));
    if (d < 0 || !Number.isFinite(freshUntil)) return undefined;
    kind = kind.toLowerCase();
    json = d + 1;
  }
  if (kind !== 'm' && kind !== 't' && kind !== 'p') return undefined;
  const record = {
    generation: raw.slice(0, a),
    guard: raw.slice(a + 1, b),
    row: kind === 'm' ? null : new StoredRow(raw.slice(json), kind === 't'),
  };
  return freshUntil === undefined ? record : { ...record, freshUntil };
}

/**
 * A row read from a record. A row of plain values (strings, numbers, booleans, nulls, Dates) is parsed once and
 * copied for each reader: a shallow copy, with Dates copied, is a deep one.
 */
class StoredRow implements EncodedRow {
  /** The row as parsed, once decoded: null when it holds objects a copy would share. */
  private parsed: Record<string, unknown> | null | undefined;
  /** The keys of its Dates, each copied per reader. */
  private dates: readonly string[] = [];

  constructor(
    readonly json: string,
    readonly tagged: boolean,
  ) {}

  decode(): Record<string, unknown> {
    if (this.parsed === undefined) {
      const row = parseRow(this);
      const dates = datesOfPlainRow(row);
      this.parsed = dates === undefined ? null : row;
      this.dates = dates ?? [];
      if (dates === undefined) return row;
    }
    return this.parsed === null ? parseRow(this) : copyOf(this.parsed, this.dates);
  }
}

function copyOf(row: Record<string, unknown>, dates: readonly string[]): Record<string, unknown> {
  const copy = { ...row };
  for (const key of dates) defineOwn(copy, key, new Date((row[key] as Date).getTime()));
  return copy;
}

/** The keys of a row's Dates if all its values are plain (see `StoredRow`), else undefined. */
function datesOfPlainRow(row: unknown): string[] | undefined {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return undefined;
  const dates: string[] = [];
  for (const [key, value] of Object.entries(row)) {
    if (value instanceof Date) dates.push(key);
    else if (value !== null && typeof value === 'object') return undefined;
  }
  return dates;
}

function parseRow(row: EncodedRow): Record<string, unknown> {
  const parsed = JSON.parse(row.json) as Json;
  return (row.tagged ? decodeValue(parsed) : parsed) as Record<string, unknown>;
}

/** A fresh copy of the row, as plain objects. */
export function decodeRow(row: EncodedRow): Record<string, unknown> {
  return row instanceof StoredRow ? row.decode() : parseRow(row);
}
