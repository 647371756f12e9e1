import type { Model, TransactionOrKnex } from 'objection';
import { encodeRow, type EncodedRow } from '../core/codec.js';
import { dialectOf } from '../core/internals.js';
import { canonicalKey, isCacheableMiss, isCanonicalSpelling, isComposite, keyParts, rowKeyOf, tupleParts } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';

/** Set on builders the cache runs itself (fills, key reads before writes): they always ask the DB. */
const DIRECT = Symbol('objection-cache: direct');

/** Marks `builder` (a query the cache runs itself) to go to the DB whatever the model's settings. */
export function direct<B extends object>(builder: B): B {
  (builder as { [DIRECT]?: boolean })[DIRECT] = true;
  return builder;
}

/** True for a builder marked by `direct` (and its clones: model/query-builder.ts copies the mark). */
export function isDirect(builder: object): boolean {
  return (builder as { [DIRECT]?: boolean })[DIRECT] === true;
}

/**
 * True for MySQL and MariaDB, whose default collations match strings case- and accent-insensitively and ignore
 * trailing spaces (and compare a string column with a number numerically): `get('Hello')` finds the row `hello`.
 * A row's flush reaches the entries of its own spelling only, so there a miss under a string is never cached (it
 * could outlive the insert of a row spelled otherwise), nor a list by a string index value; a row found under
 * another spelling is served and not cached, as everywhere.
 */
export function matchesOtherSpellings(knex: unknown): boolean {
  return /^mysql/.test(dialectOf(knex));
}

/**
 * True when `value` of `column` matches only rows of its own spelling, so that its miss (or list) may be cached
 * and rows are paired with it by their own value: it is spelled as the DB prints it (keys.ts `isCacheableMiss`,
 * `canonical` when the caller has it), and on a DB that `folds` (`matchesOtherSpellings`) every part is an
 * integer (a number, or an integer's digits, which share the number's entry). Any other string may match rows
 * spelled otherwise there (`Hello`, `hello `, `héllo`). An integer matches an integer column's own value; a string
 * column holding `'042'` or `'42 '` would match it too, which README tells apps to avoid.
 */
export function matchesOwnSpellingOnly(column: string, value: KeyValue, folds: boolean, canonical = isCanonicalSpelling(column, value)): boolean {
  if (!canonical || !folds) return canonical;
  const parts = isComposite(column) ? tupleParts(value) : [value];
  return parts.every((part) => (typeof part === 'string' ? INTEGER.test(part) : true));
}

const INTEGER = /^-?(?:0|[1-9]\d*)$/;

/** Bound parameters per `whereIn`: under SQLite's 32766 and PostgreSQL's 65535, so one query serves any sane batch. */
export const WHERE_IN_CHUNK = 30_000;

/** A row found for one requested value. */
export interface Found {
  readonly row: Model;
  /** The row's column spells the value exactly as requested, so the entry is the one a flush of the row reaches. */
  readonly exact: boolean;
}

/** What a fill stores for one requested value: its encoding, and whether its entry is the one a flush reaches. */
export interface Loaded {
  readonly row: EncodedRow;
  /** The DB matched the value as spelled (see `Found`): the entry may be stored. */
  readonly exact: boolean;
}

/**
 * Where a read through the cache gets what it missed: a row per key value (`loadRows`), or the ids of the rows
 * holding an index value (reads/list-read.ts). Undefined where there is nothing (a miss).
 */
export type Loader = (modelClass: typeof Model, column: string, values: readonly KeyValue[], trx?: TransactionOrKnex) => Promise<(Loaded | undefined)[]>;

/** The rows of `values` (`readRows`), as the cache keeps them: their DB form (what `fromDatabaseJson` takes back). */
export const loadRows: Loader = async (modelClass, column, values, trx) =>
  (await readRows(modelClass, column, values, trx)).map((found) => found && { row: encodeRow(found.row.$toDatabaseJson()), exact: found.exact });

/**
 * Reads the rows whose `column` is one of `values`, in one query (chunked only past `WHERE_IN_CHUNK`), and
 * pairs each value with its row. Rows are paired by the canonical spelling of the column value; where the DB
 * matched a row under another spelling (`'01'` for id 1, a case-insensitive collation) the pairing is inexact:
 * with one such value left over it takes the leftover row, with several each is asked for on its own.
 */
export async function readRows(modelClass: typeof Model, column: string, values: readonly KeyValue[], trx?: TransactionOrKnex): Promise<(Found | undefined)[]> {
  // `column` is the model's property; SQL names the DB column (they differ under columnNameMappers). A composite
  // key's values are tuples (core/keys.ts), matched as row values: WHERE (a, b) IN ((?, ?), ...).
  const dbColumns = keyParts(column).map((part) => modelClass.propertyNameToColumnName(part));
  const size = Math.floor(WHERE_IN_CHUNK / dbColumns.length);
  const rows: Model[] = [];
  for (let i = 0; i < values.length; i += size) {
    rows.push(...(await whereKeyIn(direct(modelClass.query(trx)), dbColumns, values.slice(i, i + size))));
  }
  const wanted = new Set(values.map(canonicalKey));
  const byKey = new Map<string, Model>();
  const leftover: Model[] = [];
  for (const row of rows) {
    const value = rowKeyOf(row, column);
    const key = value === undefined ? undefined : canonicalKey(value);
    if (key === undefined || !wanted.has(key)) leftover.push(row);
    else if (!byKey.has(key)) byKey.set(key, row);
  }
  const found: (Found | undefined)[] = values.map((value) => {
    const row = byKey.get(canonicalKey(value));
    return row ? { row, exact: true } : undefined;
  });
  // Values the DB may match under another spelling ('01' for 1, a uuid in upper case) and that no row of their own
  // spelling answered: with one row left over it is theirs; else each is asked for on its own, since the row it
  // matches may be one paired already (`[1, '01']`).
  const unpaired = found.flatMap((entry, i) => (entry || (leftover.length === 0 && isCacheableMiss(values[i]!)) ? [] : [i]));
  if (unpaired.length === 0) return found;
  if (unpaired.length === 1 && leftover.length === 1) {
    found[unpaired[0]!] = { row: leftover[0]!, exact: false };
    return found;
  }
  for (const i of unpaired) {
    const row = await whereKeyIn(direct(modelClass.query(trx)), dbColumns, [values[i]!]).first();
    if (row) found[i] = { row, exact: false };
  }
  return found;
}

/** What the key helpers call on a query builder (Objection's and knex's alike; their typings overload it). */
interface Filterable<B> {
  whereIn(columns: string | string[], values: unknown[]): B;
  orWhereIn(columns: string | string[], values: unknown[]): B;
}

/**
 * `builder` narrowed to rows whose key (in `dbColumns`: one column, or a composite key's parts) is one of
 * `values`; `or` adds the condition with OR. A composite key's values are tuples, compared as row values.
 */
export function whereKeyIn<B>(builder: B, dbColumns: readonly string[], values: readonly KeyValue[], join: 'and' | 'or' = 'and'): B {
  const filter = builder as unknown as Filterable<B>;
  const [columns, list] = dbColumns.length === 1 ? [dbColumns[0]!, [...values]] : [[...dbColumns], values.map(tupleParts)];
  return join === 'or' ? filter.orWhereIn(columns, list) : filter.whereIn(columns, list);
}
