import type Keyv from 'keyv';

/**
 * Every cache key column of every cached class on one table (per store and prefix): single-table inheritance,
 * default scopes and subclasses put several classes on a table, each with entries of its own (keys.ts: the
 * class name is part of them) and maybe keys of its own. A write through any of them flushes the guards of all
 * these columns, so no class keeps an entry of a row another class changed. Classes are known from their first
 * use in this process: one that a writing process never set up is not in its union (README, Consistency).
 */
const byStore = new WeakMap<Keyv, Map<string, Union>>();

/** A table's union of key columns, and the same as a list, remade only when the union grows. */
interface Union {
  readonly columns: Set<string>;
  list: readonly string[];
}

/** By class settings: a write finds its table's union with one lookup, not a string key per row. */
const bySettings = new WeakMap<TableOfClass, Union>();

export interface TableOfClass {
  readonly store: { readonly keyv: Keyv };
  readonly prefix: string;
  readonly table: string;
  readonly keyColumns: readonly string[];
}

function unionOf(settings: TableOfClass): Union {
  let union = bySettings.get(settings);
  if (union) return union;
  let byTable = byStore.get(settings.store.keyv);
  if (!byTable) byStore.set(settings.store.keyv, (byTable = new Map()));
  const name = `${settings.prefix}\u0000${settings.table}`;
  union = byTable.get(name);
  if (!union) byTable.set(name, (union = { columns: new Set(), list: [] }));
  bySettings.set(settings, union);
  return union;
}

/** Adds the key columns of a class to its table's union. */
export function registerKeyColumns(settings: TableOfClass): void {
  const union = unionOf(settings);
  for (const column of settings.keyColumns) union.columns.add(column);
  if (union.list.length !== union.columns.size) union.list = [...union.columns];
}

/** The key columns a write to the table of `settings` flushes: its own and those of every other class on it. */
export function flushColumns(settings: TableOfClass): readonly string[] {
  return unionOf(settings).list;
}
