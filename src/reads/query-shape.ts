import type { Knex } from 'knex';
import { isKnexRaw, knexBuilderState, type KnexBuilderState, type KnexStatement } from '../core/internals.js';
import { rowKeyValue } from '../core/keys.js';
import type { KeyValue } from '../core/public-types.js';

/**
 * What a built knex query reads, learnt from knex's builder state (core/internals.ts `knexBuilderState`): knex
 * keeps no public description of a query. Both functions are conservative: what they do not recognise makes the query
 * run uncached (keyConditionOf) or is reported (tablesOf), never guessed.
 */

/** `posts`, `posts as p` → `posts`. */
function tableName(spec: string): string {
  return spec
    .trim()
    .split(/\s+as\s+/i)[0]!
    .trim();
}

/**
 * Every table the query reads: its own, joined ones, and those of subqueries (in where, select, union, with,
 * from), including subqueries built by callbacks, which are run on a scratch builder to see what they build.
 * Tables named only inside raw SQL cannot be seen (the caller documents `dependsOn` for them).
 */
export function tablesOf(builder: Knex.QueryBuilder): Set<string> {
  const tables = new Set<string>();
  const visit = (value: unknown, depth: number, client: KnexBuilderState['client']): void => {
    if (depth > 32 || value === null || value === undefined) return;
    if (typeof value === 'string') return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth + 1, client);
      return;
    }
    if (typeof value === 'function') {
      const scratch = client.queryBuilder();
      (value as (this: unknown, qb: unknown) => void).call(scratch, scratch);
      walk(scratch, depth + 1);
      return;
    }
    if (typeof value !== 'object') return;
    if (isKnexRaw(value)) {
      visit((value as { bindings?: unknown }).bindings, depth + 1, client);
      return;
    }
    // an Objection query builder used as a subquery, if one ever reaches knex unconverted
    const toKnex = (value as { toKnexQuery?: unknown }).toKnexQuery;
    if (typeof toKnex === 'function') walk(toKnex.call(value), depth + 1);
    else if (knexBuilderState(value)) walk(value, depth + 1);
  };
  // Names a `with` clause gives its queries (common table expressions): read as tables, they are no table, and
  // the tables their queries read are walked with the with clause. Visible in the builder that declares them and
  // in its subqueries.
  let ctes: ReadonlySet<string> = new Set();
  const add = (name: string): void => {
    if (!ctes.has(name)) tables.add(name);
  };
  const from = (spec: unknown, depth: number, client: KnexBuilderState['client']): void => {
    if (typeof spec === 'string') add(tableName(spec));
    else if (spec && typeof spec === 'object' && !isKnexRaw(spec) && !knexBuilderState(spec)) {
      // knex's `{ alias: 'table' }` form
      for (const name of Object.values(spec)) if (typeof name === 'string') add(tableName(name));
    } else visit(spec, depth, client);
  };
  const walk = (builder: unknown, depth: number): void => {
    const state = knexBuilderState(builder);
    if (!state) return;
    const outer = ctes;
    const own = state._statements.flatMap((statement) =>
      statement.grouping === 'with' && typeof statement.alias === 'string' ? [tableName(statement.alias)] : [],
    );
    if (own.length > 0) ctes = new Set([...outer, ...own]);
    from(state._single.table, depth, state.client);
    for (const statement of state._statements) {
      if (statement.joinType) {
        from(statement.table, depth, state.client);
        continue;
      }
      visit(statement.value, depth, state.client);
      if (typeof statement.column !== 'string') visit(statement.column, depth, state.client);
    }
    ctes = outer;
  };
  walk(builder, 0);
  return tables;
}

/** A query that only looks rows up by one key column: `where col = v` or `where col in (…)`, all columns. */
export interface KeyCondition {
  readonly column: string;
  readonly values: readonly KeyValue[];
}

/**
 * The key condition `builder` is, if it is exactly one: `select table.* from table where col = ?` (findById,
 * findOne, a belongs-to-one relation) or `… where col in (…)` (a belongs-to-one relation of many rows), on one of
 * `keyColumns`, with values the cache can key on, and nothing else (no other condition, join, order, limit
 * beyond one, lock or column list).
 */
export function keyConditionOf(builder: Knex.QueryBuilder, table: string, keyColumns: readonly string[]): KeyCondition | undefined {
  return conditionOn(builder, table, keyColumns, 'one');
}

/**
 * The index condition `builder` is, if it is exactly one: `select table.* from table where col in (…)` (or `=`),
 * on one of `indexColumns` (`cacheIndexes`), and nothing else, no limit either: a has-many relation's find, for
 * one owner or many (`withGraphFetched`).
 */
export function indexConditionOf(builder: Knex.QueryBuilder, table: string, indexColumns: readonly string[]): KeyCondition | undefined {
  return conditionOn(builder, table, indexColumns, 'many');
}

/** A condition on one of `columns`, whose values match one row each (keys) or any number (indexes: no limit). */
function conditionOn(builder: Knex.QueryBuilder, table: string, keyColumns: readonly string[], rowsPerValue: 'one' | 'many'): KeyCondition | undefined {
  const state = knexBuilderState(builder);
  if (!state || (state._method !== undefined && state._method !== 'select')) return undefined;
  for (const [name, value] of Object.entries(state._single)) {
    // knex's limit() sets `skipBinding` beside `limit`
    if (name === 'table' ? value !== table : name === 'only' ? value !== false : name !== 'limit' && name !== 'skipBinding') return undefined;
  }
  let condition: KeyCondition | undefined;
  for (const statement of state._statements) {
    if (statement.grouping === 'columns' && statement.type === undefined && isAllColumns(statement.value, table)) continue;
    if (statement.grouping !== 'where' || condition || statement.not) return undefined;
    const column = columnOf(statement.column, table);
    if (column === undefined || !keyColumns.includes(column)) return undefined;
    const values = keyValuesOf(statement);
    if (!values) return undefined;
    condition = { column, values };
  }
  if (!condition) return undefined;
  const limit = state._single['limit'];
  if (limit !== undefined && (rowsPerValue === 'many' || !(typeof limit === 'number' && limit >= condition.values.length))) return undefined;
  return condition;
}

/** What a many-to-many relation's find joins: the related table, the join table and their columns. */
export interface JoinShape {
  /** The related model's table, as the query names it. */
  readonly table: string;
  readonly joinTable: string;
  /** The related table's column the join table refers to. */
  readonly relatedKey: string;
  /** The join table's columns: the owner's key, and the related row's key. */
  readonly ownerColumn: string;
  readonly relatedColumn: string;
}

/** A many-to-many find: the owners' keys it asks for, and the aliases it selects the owner's key under. */
export interface JoinCondition {
  readonly values: readonly KeyValue[];
  /** `withGraphFetched` selects the join table's owner column as these (Objection's `objectiontmpjoin0`). */
  readonly ownerAliases: readonly string[];
}

/**
 * The owners a many-to-many relation's find asks for, if the query is exactly Objection's: `select related.* [,
 * join.owner as alias] from related inner join join on related.key = join.related where join.owner in (…)`,
 * and nothing else (no other join, condition, order, limit or column).
 */
export function joinConditionOf(builder: Knex.QueryBuilder, shape: JoinShape): JoinCondition | undefined {
  const state = knexBuilderState(builder);
  if (!state || (state._method !== undefined && state._method !== 'select')) return undefined;
  for (const [name, value] of Object.entries(state._single)) {
    if (name === 'table' ? value !== shape.table : name !== 'only' || value !== false) return undefined;
  }
  // the join comes first (Objection adds it before the condition and the columns); its table may be aliased
  const join = state._statements[0];
  if (!join || join.joinType !== 'inner' || typeof join.table !== 'string' || join.schema !== undefined) return undefined;
  const [joinTable = '', alias] = join.table.trim().split(/\s+as\s+/i);
  const joinAlias = alias ?? joinTable;
  const on = join.clauses?.length === 1 ? join.clauses[0] : undefined;
  if (joinTable !== shape.joinTable || on?.type !== 'onBasic' || on.operator !== '=') return undefined;
  if (columnOf(on.column, shape.table) !== shape.relatedKey || columnOf(on.value, joinAlias) !== shape.relatedColumn) return undefined;
  let values: KeyValue[] | undefined;
  const ownerAliases: string[] = [];
  for (const statement of state._statements.slice(1)) {
    if (statement.grouping === 'columns' && statement.type === undefined && Array.isArray(statement.value)) {
      for (const column of statement.value) {
        if (column === '*' || column === `${shape.table}.*`) continue;
        const aliased = aliasedColumn(column);
        if (!aliased || columnOf(aliased.column, joinAlias) !== shape.ownerColumn) return undefined;
        ownerAliases.push(aliased.alias);
      }
    } else if (statement.grouping === 'where' && !values && !statement.not && columnOf(statement.column, joinAlias) === shape.ownerColumn) {
      values = keyValuesOf(statement);
      if (!values) return undefined;
    } else {
      return undefined;
    }
  }
  return values ? { values, ownerAliases } : undefined;
}

/** The values a `where col = v` or `where col in (…)` asks for, if the cache can key on every one. */
function keyValuesOf(statement: KnexStatement): KeyValue[] | undefined {
  let raw: readonly unknown[];
  if (statement.type === 'whereBasic' && statement.operator === '=') raw = [statement.value];
  else if (statement.type === 'whereIn' && Array.isArray(statement.value)) raw = statement.value as unknown[];
  else return undefined;
  const values: KeyValue[] = [];
  for (const item of raw) {
    const value = rowKeyValue(item);
    if (value === undefined) return undefined;
    values.push(value);
  }
  return values;
}

/** `col as alias`, as a string or as Objection's `ref(col).as(alias)` (a raw `?? as ??`). */
function aliasedColumn(column: unknown): { column: string; alias: string } | undefined {
  if (typeof column === 'string') {
    const match = /^(\S+)\s+as\s+(\S+)$/i.exec(column);
    return match ? { column: match[1]!, alias: match[2]! } : undefined;
  }
  if (column && typeof column === 'object' && isKnexRaw(column)) {
    const { sql, bindings } = column;
    if (/^\?\?\s+as\s+\?\?$/i.test(sql) && bindings?.length === 2 && typeof bindings[0] === 'string' && typeof bindings[1] === 'string') {
      return { column: bindings[0], alias: bindings[1] };
    }
  }
  return undefined;
}

function isAllColumns(value: unknown, table: string): boolean {
  return Array.isArray(value) && value.length === 1 && (value[0] === '*' || value[0] === `${table}.*`);
}

/** `col`, `table.col`, or Objection's `raw('??', 'table.col')`, as a column of `table`. */
function columnOf(column: unknown, table: string): string | undefined {
  let name = column;
  if (column && typeof column === 'object' && isKnexRaw(column)) {
    const { sql, bindings } = column as { sql: string; bindings?: unknown[] };
    if (sql !== '??' || bindings?.length !== 1) return undefined;
    name = bindings[0];
  }
  if (typeof name !== 'string') return undefined;
  if (!name.includes('.')) return name;
  const dot = name.lastIndexOf('.');
  return name.slice(0, dot) === table ? name.slice(dot + 1) : undefined;
}
