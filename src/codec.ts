/**
 * Faithful serialization of DB rows to a string. Keyv's default JSON turns Dates into strings and Buffers into
 * objects; this codec tags them so a row read back from any store (memory or Redis) equals the row the DB gave.
 *
 * Tags are single-key objects whose key starts with `~`. A plain object with a key starting with `~` is wrapped
 * as `{"~o": {...}}` so user JSON can never be mistaken for a tag. Decoding builds fresh objects and defines
 * `__proto__` as an own property, as JSON.parse does, so a cached JSON column cannot change any prototype.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function encodeValue(value: unknown): Json {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : { '~n': String(value) };
    case 'bigint':
      return { '~b': value.toString() };
    case 'object':
      return encodeObject(value);
    default:
      throw new TypeError(`objection-cache: cannot cache a ${typeof value} column value`);
  }
}

function encodeObject(value: object): Json {
  if (value instanceof Date) return { '~d': Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Uint8Array) return { '~x': Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(encodeValue);
  const out: { [key: string]: Json } = {};
  let escape = false;
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (key.startsWith('~')) escape = true;
    defineOwn(out, key, encodeValue(item));
  }
  return escape ? { '~o': out } : out;
}

export function decodeValue(value: Json): unknown {
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

/** What a value key holds: the row (or null for a cached miss), stamped with the generation and guard it was read under. */
export interface CacheRecord {
  readonly generation: string;
  readonly guard: string;
  /** Encoded row, kept encoded so every reader decodes its own fresh copy. */
  readonly row: Json | null;
}

export function encodeRecord(generation: string, guard: string, row: Json | null): string {
  return JSON.stringify([generation, guard, row]);
}

export function decodeRecord(raw: unknown): CacheRecord | undefined {
  if (typeof raw !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') {
    return undefined;
  }
  return { generation: parsed[0], guard: parsed[1], row: parsed[2] as Json | null };
}

export function decodeRow(row: Json): Record<string, unknown> {
  return decodeValue(row) as Record<string, unknown>;
}
