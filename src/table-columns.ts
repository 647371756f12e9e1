import type Keyv from 'keyv';

/**
 * Every cache key column of every cached class on one table (per store and prefix): single-table inheritance,
 * default scopes and subclasses put several classes on a table, each with entries of its own (keys.ts: the
 * class name is part of them) and maybe keys of its own. A write through any of them flushes the guards of all
 * these columns, so no class keeps an entry of a row another class changed. Classes are known from their first
 * use in this process: one that a writing process never set up is not in its union (README, Consistency).
 */
const byStore = new WeakMap<Keyv, Map<string, Set<string>>>();

export interface TableOfClass {
  readonly store: { readonly keyv: Keyv };
  readonly prefix: string;
  readonly table: string;
  readonly keyColumns: readonly string[];
}

function columnsOf(settings: TableOfClass): Set<string> {
  let byTable = byStore.get(settings.store.keyv);
  if (!byTable) byStore.set(settings.store.keyv, (byTable = new Map()));
  const name = `${settings.prefix}\u0000${settings.table}`;
  let columns = byTable.get(name);
  if (!columns) byTable.set(name, (columns = new Set()));
  return columns;
}

/** Adds the key columns of a class to its table's union. */
export function registerKeyColumns(settings: TableOfClass): void {
  const columns = columnsOf(settings);
  for (const column of settings.keyColumns) columns.add(column);
}

/** The key columns a write to the table of `settings` flushes: its own and those of every other class on it. */
export function flushColumns(settings: TableOfClass): readonly string[] {
  const columns = columnsOf(settings);
  return columns.size === settings.keyColumns.length ? settings.keyColumns : [...columns];
}
