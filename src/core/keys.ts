import { createHash } from 'node:crypto';

import { BoundedMap } from './bounded-map.js';
import type { KeyValue } from './public-types.js';

/** Where one model's entries live in the store; built once per model class. */
export interface KeySpace {
  /** Model name, for error messages. */
  readonly modelName: string;
  /** The database scope the keys belong to (scope.ts `scopeOf`). */
  readonly scope: string;
  /** `{prefix:scope:table}`: the Redis Cluster hash tag every key of the model (in one database) starts with. */
  readonly tag: string;
  /** `{prefix:scope:table}:v<cacheVersion>`: the part of value and guard keys before the column. */
  readonly base: string;
}

/** The store keys of one (column, value) pair. */
export interface EntryKeys {
  /** The cached record: the row (or a miss marker) stamped with the guard and generation it was filled under. */
  readonly value: string;
  /**
   * The race guard: a token that every flush of this key deletes. It leaves `cacheVersion` out, so a flush made
   * by one version of the app reaches the entries of every other version running beside it (a rolling deploy).
   */
  readonly guard: string;
  /** False where the DB may match rows whose key is spelled differently (see `isCacheableMiss`). */
  readonly missCacheable: boolean;
  /** The value as the cache compares it with a row's column. */
  readonly canonical: string;
}

// Raw values stay readable in the store; anything else (`:`, `*`, spaces, unicode, long text) is hashed, and the
// leading `=` or `#` keeps the two forms from ever colliding.
const READABLE = /^[A-Za-z0-9_.-]{1,64}$/;

export function makeKeySpace(modelName: string, prefix: string, scope: string, table: string, cacheVersion: string | number): KeySpace {
  assertPrefix(modelName, prefix);
  const tag = tableTag(prefix, scope, table);
  // The class name keeps apart the entries of classes that share a table (single-table inheritance, default
  // scopes): each fills through its own query(). Guards, the generation and the table token stay shared.
  return { modelName, scope, tag, base: `${tag}:v${encodeURIComponent(String(cacheVersion))}:${encodeKeyPart(modelName)}` };
}

export function assertPrefix(modelName: string, prefix: string): void {
  if (/[{}]/.test(prefix)) {
    throw new TypeError(`${modelName}: cache prefix ${JSON.stringify(prefix)} must not contain "{" or "}" (they delimit the Redis Cluster hash tag)`);
  }
}

/**
 * `{prefix:scope:table}`: the hash tag of everything stored for a table of one database (its rows' entries, its
 * table token, its queries). The scope (see scope.ts) keeps databases apart: a readable app-given name as
 * `=name`, anything else as `#` and 12 characters (72 bits) of its sha256: every key carries it, and a longer
 * key costs every hit (measured on the memory store), while two of a deployment's databases meeting by chance in
 * 72 bits is not a risk worth those microseconds.
 */
export function tableTag(prefix: string, scope: string, table: string): string {
  return `{${prefix}:${scopeKeyPart(scope)}:${encodeURIComponent(table)}}`;
}

const scopeParts = new Map<string, string>();

function scopeKeyPart(scope: string): string {
  let part = scopeParts.get(scope);
  if (part === undefined) {
    const name = scope.startsWith('name:') ? scope.slice(5) : undefined;
    part = name !== undefined && READABLE.test(name) ? `=${name}` : `#${hash(scope).slice(0, 12)}`;
    if (scopeParts.size < 10_000) scopeParts.set(scope, part);
  }
  return part;
}

/**
 * The key of a table's token: deleted by every write to the table, it invalidates every cached query and
 * `cached()` value that read the table. It shares the table's hash tag, so a write deletes it in the same call
 * (and on Redis the same UNLINK) as the rows' keys. The suffix stays `tv` (it was called the table's version):
 * processes of earlier releases delete the same key during a rolling deploy.
 */
export function tableTokenKey(tag: string): string {
  return `${tag}${TABLE_TOKEN}`;
}

const TABLE_TOKEN = ':tv';

/** The token key of `table` in the store prefix and database scope given. */
export function tableTokenKeyIn(prefix: string, scope: string, table: string): string {
  return tableTokenKey(tableTag(prefix, scope, table));
}

/** The key of a `cached()` value: under the hash tag of its first dependency, then the app's key. */
export function valueKey(tag: string, key: string): string {
  return `${tag}:c:${encodeKeyPart(key)}`;
}

/** The hash tag of `cached()` values that depend on no model and no table: one pseudo-table per scope. */
export function unanchoredValuesTag(prefix: string, scope: string): string {
  return tableTag(prefix, scope, 'cached');
}

/** What a store health check reads when the call that failed named no key of its own. */
export const STORE_CHECK_KEY = 'objection-cache:check';

/** The key of a cached query result: the model's key space, then a hash of the SQL and its bindings. */
export function queryKey(space: KeySpace, text: string): string {
  return `${space.base}:q:#${hash(text)}`;
}

/** A readable rendering of `text` where it is short and plain, a hash otherwise; `=` and `#` keep them apart. */
export function encodeKeyPart(text: string): string {
  return READABLE.test(text) ? `=${text}` : `#${hash(text)}`;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** The key whose deletion invalidates every entry of the model (`flushAll`). */
export function generationKey(space: KeySpace): string {
  return generationKeyOf(space.tag);
}

/**
 * The generation and table tokens of `tables` in `scope`: deleting them drops every entry of those tables' models
 * and every cached query or value that read them.
 */
export function tableKeys(prefix: string, scope: string, tables: readonly string[]): string[] {
  return tables.flatMap((table) => tokenKeysOf(tableTag(prefix, scope, table)));
}

/** The generation and table token under a hash tag: deleting both flushes the table's models whole. */
export function tokenKeysOf(tag: string): [string, string] {
  return [generationKeyOf(tag), tableTokenKey(tag)];
}

/** The generation key under a hash tag: every model on one table (in one database and prefix) shares it. */
export function generationKeyOf(tag: string): string {
  return `${tag}${GENERATION}`;
}

const GENERATION = ':gen';

export function isGenerationKey(key: string): boolean {
  return key.endsWith(GENERATION) && key.startsWith('{');
}

/** True for a token key that stamps many entries: a generation, or a table's token (`tableTokenKey`). */
export function isTokenKey(key: string): boolean {
  return key.startsWith('{') && (key.endsWith(GENERATION) || key.endsWith(TABLE_TOKEN));
}

/** The hash tag a key of ours starts with (`{...}`), or '' for a key that has none. */
export function tagOf(key: string): string {
  return key.startsWith('{') ? key.slice(0, key.indexOf('}') + 1) : '';
}

/**
 * What Redis Cluster hashes to place a key as stored (after Keyv's and the adapter's prefixes): the text inside
 * the first `{...}` when it is not empty, else the whole key. Keys sharing it share a slot, so one command may carry them together.
 */
export function hashTagOf(storedKey: string): string {
  // Redis' rule (cluster spec, "hash tags"): the first `{`, then the first `}` after it, with something between;
  // an empty `{}` makes the whole key count.
  const open = storedKey.indexOf('{');
  const close = open < 0 ? -1 : storedKey.indexOf('}', open + 1);
  return close > open + 1 ? storedKey.slice(open + 1, close) : storedKey;
}

/**
 * Throws a TypeError naming model and column unless `value` can be a natural key. Runs before any I/O.
 * Strings, finite numbers and bigints are accepted; `null`, `undefined`, booleans, NaN, Infinity, objects,
 * arrays and Dates are not (the DB would coerce them in ways a key cannot follow).
 */
export function assertKeyValue(modelName: string, column: string, value: unknown): asserts value is KeyValue {
  if (rowKeyValue(value) === undefined) {
    throw new TypeError(`${modelName}.${column}: a cache key must be a string, a finite number or a bigint, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  if (typeof value === 'number') return String(value);
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * The canonical spelling of a key value. `1`, `1n` and `'1'` share an entry: SQLite and PostgreSQL match the same
 * row for all three, and a flush computed from the row's column value must reach every entry that could hold it.
 */
export function canonicalKey(value: KeyValue): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * A miss is cached only where no row could match the lookup under another spelling. `'1.0'`, `'01'`, `' 1'` or
 * `'1e3'` match the row with integer id 1 in SQLite, but a flush of that row reaches only the entry `'1'`, so a
 * cached miss under `'01'` could outlive the insert of row 1. The same for a uuid spelt other than PostgreSQL
 * prints it (upper case, braces, no hyphens): PostgreSQL matches it, a flush reaches only the lower-case form.
 * Such lookups still work; their misses go uncached.
 */
export function isCacheableMiss(value: KeyValue): boolean {
  if (typeof value !== 'string') return true;
  if (UUID_SPELLING.test(value)) return CANONICAL_UUID.test(value);
  if (value.trim() === '' || Number.isNaN(Number(value))) return true;
  return String(Number(value)) === value;
}

/** What PostgreSQL reads as a uuid (hex digits, hyphens and braces around 32 of them), and the form it prints. */
const UUID_SPELLING = /^\s*\{?\s*(?:[0-9a-f]-?){31}[0-9a-f]\s*\}?\s*$/i;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function entryKeys(space: KeySpace, column: string, value: KeyValue): EntryKeys {
  const canonical = canonicalKey(value);
  const encoded = encodeKeyPart(canonical);
  const col = encodeURIComponent(column);
  return {
    value: `${space.base}:k:${col}:${encoded}`,
    guard: `${space.tag}:g:${col}:${encoded}`,
    missCacheable: isCanonicalSpelling(column, value),
    canonical,
  };
}

// ---------------------------------------------------------------- composite keys
/**
 * A composite key (`cacheKeys = [['tenantId', 'slug']]`, `idColumn = ['tenant_id', 'id']`) is named by its
 * columns (model properties) joined with `+`, which no JavaScript property name holds: `tenantId+slug`. Its value
 * is the JSON array of its parts' canonical spellings, `["1","hello"]`: one string, so it is keyed, remembered,
 * batched and flushed like any single value, and no two tuples share one (JSON quotes its strings).
 */
const PART_SEPARATOR = '+';

export function compositeName(columns: readonly string[]): string {
  return columns.length === 1 ? columns[0]! : columns.join(PART_SEPARATOR);
}

export function isComposite(name: string): boolean {
  return name.includes(PART_SEPARATOR);
}

const partsByName = new Map<string, readonly string[]>();

/** The columns of a key: itself for a single column, its parts for a composite one. */
export function keyParts(name: string): readonly string[] {
  let parts = partsByName.get(name);
  if (!parts) partsByName.set(name, (parts = isComposite(name) ? name.split(PART_SEPARATOR) : [name]));
  return parts;
}

// ---------------------------------------------------------------- cached lists (cacheIndexes)
/**
 * An index (`cacheIndexes = ['authorId']`) keeps, per value, the list of the ids of the rows holding it. The list
 * is an entry like a row's, keyed and guarded under the index's name with `[]` after it (`authorId[]`), which no
 * key column's name ends with, so a list and a row never share a key.
 */
const LIST_SUFFIX = '[]';

export function listName(index: string): string {
  return index + LIST_SUFFIX;
}

/** The index a list's name (`listName`) stands for. */
export function indexOfList(list: string): string {
  return list.endsWith(LIST_SUFFIX) ? list.slice(0, -LIST_SUFFIX.length) : list;
}

/** `isCacheableMiss` of a value of `column`: of each part, for a composite key. */
export function isCanonicalSpelling(column: string, value: KeyValue): boolean {
  return isComposite(column) ? tupleParts(value).every(isCacheableMiss) : isCacheableMiss(value);
}

/** The value of a composite key whose parts are `values` (each a key value). */
export function tupleValue(values: readonly KeyValue[]): string {
  return JSON.stringify(values.map(canonicalKey));
}

/** The parts of a composite key's value, as `tupleValue` spelled them. */
export function tupleParts(value: KeyValue): string[] {
  return JSON.parse(value as string) as string[];
}

/** A row's value of the key `name` (one column, or every part of a composite one), or undefined where it has none. */
export function rowKeyOf(row: object, name: string): KeyValue | undefined {
  const record = row as Record<string, unknown>;
  if (!isComposite(name)) return rowKeyValue(record[name]);
  const values: KeyValue[] = [];
  for (const part of keyParts(name)) {
    const value = rowKeyValue(record[part]);
    if (value === undefined) return undefined;
    values.push(value);
  }
  return tupleValue(values);
}

/**
 * The value of key `name` that a caller gave: for a composite key, an array of its parts in order or an object
 * holding each part (by property), checked part by part. Throws a TypeError naming model and key before any I/O.
 */
export function givenKey(modelName: string, name: string, given: unknown): KeyValue {
  if (!isComposite(name)) {
    assertKeyValue(modelName, name, given);
    return given;
  }
  const parts = keyParts(name);
  let values: readonly unknown[];
  if (Array.isArray(given)) {
    if (given.length !== parts.length) {
      throw new TypeError(`${modelName}.${name}: a composite key takes ${parts.length} values (${parts.join(', ')}), got ${given.length}`);
    }
    values = given;
  } else if (given !== null && typeof given === 'object' && !(given instanceof Date)) {
    values = parts.map((part) => (given as Record<string, unknown>)[part]);
  } else {
    throw new TypeError(`${modelName}.${name}: a composite key is an array or an object of ${parts.join(', ')}, got ${describe(given)}`);
  }
  parts.forEach((part, i) => assertKeyValue(modelName, `${name} (${part})`, values[i]));
  return tupleValue(values as KeyValue[]);
}

/** Per key space and column, the keys of values looked up lately: at most this many, the oldest forgotten first. */
export const REMEMBERED_KEYS = 4_096;
const remembered = new WeakMap<KeySpace, Map<string, BoundedMap<KeyValue, EntryKeys>>>();

/**
 * `entryKeys`, remembered for the values of a column looked up lately. A hot key's lookup builds no strings, and
 * hands the store the same string objects every time, whose hashes the engine keeps (a Map lookup of a fresh
 * 70-character string hashes it again): measured on the memory store's hit path.
 */
export function lookupKeys(space: KeySpace, column: string, value: KeyValue): EntryKeys {
  let columns = remembered.get(space);
  if (!columns) remembered.set(space, (columns = new Map()));
  let values = columns.get(column);
  if (!values) columns.set(column, (values = new BoundedMap(REMEMBERED_KEYS)));
  let keys = values.get(value);
  if (!keys) values.set(value, (keys = entryKeys(space, column, value)));
  return keys;
}

/** A row's column value as a key, or undefined where it cannot be one (NULL, a JSON value, a Date). */
export function rowKeyValue(value: unknown): KeyValue | undefined {
  if (typeof value === 'string' || typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}
