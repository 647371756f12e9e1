/**
 * The tables one store keeps entries of, per key prefix: the tables of the cached models this process has set
 * up, and the join tables of their many-to-many relations. For each it knows:
 * - that its table token is kept: every write through a cached model deletes it, so cached queries and
 *   `cached()` values may read the table (a table nobody writes through the cache could never invalidate them);
 * - its owner, the first cached class seen for it: its knex is the table's default database;
 * - the union of the key columns of every cached class on it. Single-table inheritance, default scopes and
 *   subclasses put several classes on a table, each with entries of its own and maybe keys of its own; a write
 *   through any of them flushes the guards of all these columns, so no class keeps an entry of a row another
 *   class changed. Classes are known from their first use in this process (README, Consistency).
 */
export class TableCatalog {
  readonly #byPrefix = new Map<string, Map<string, CatalogTable>>();
  /** By prefix and table name, qualified or not (`app.posts` is found as `posts` too). */
  readonly #byName = new Map<string, CatalogTable[]>();

  /** The table's entry; the first class to register it is its owner, and its `cacheCascades` go with it. */
  register(prefix: string, table: string, owner: object, cascades: readonly string[]): CatalogTable {
    let tables = this.#byPrefix.get(prefix);
    if (!tables) this.#byPrefix.set(prefix, (tables = new Map()));
    let entry = tables.get(table);
    if (entry) return entry;
    entry = new CatalogTable(table, owner, cascades);
    tables.set(table, entry);
    for (const name of new Set([table, lastSegment(table)])) {
      const key = `${prefix}\u0000${name}`;
      const list = this.#byName.get(key);
      if (list) list.push(entry);
      else this.#byName.set(key, [entry]);
    }
    return entry;
  }

  get(prefix: string, table: string): CatalogTable | undefined {
    return this.#byPrefix.get(prefix)?.get(table);
  }

  /**
   * The tables under `prefix` a write to `table` (as a statement spells it) can reach. A schema may be spelt out
   * on one side only: `posts` reaches `app.posts` too (the search path may lead there), and `app.posts` reaches
   * `posts`, but not `other.posts`.
   */
  written(prefix: string, table: string): readonly CatalogTable[] {
    if (!table.includes('.')) return this.#byName.get(`${prefix}\u0000${table}`) ?? [];
    const found = this.#byName.get(`${prefix}\u0000${lastSegment(table)}`) ?? [];
    return found.filter((entry) => entry.table === table || !entry.table.includes('.'));
  }

  get size(): number {
    let size = 0;
    for (const tables of this.#byPrefix.values()) size += tables.size;
    return size;
  }
}

/** One table of the catalog. */
export class CatalogTable {
  readonly table: string;
  /** The first cached class seen for the table (a model class; typed loosely, the store knows no Objection). */
  readonly owner: object;
  /** The owner's `cacheCascades`: a write to the table made outside the models flushes these tables too. */
  readonly cascades: readonly string[];
  readonly #keyColumns = new Union();
  readonly #indexColumns = new Union();

  constructor(table: string, owner: object, cascades: readonly string[]) {
    this.table = table;
    this.owner = owner;
    this.cascades = cascades;
  }

  /** Every key column of every cached class on the table: what a write to it flushes. */
  get keyColumns(): readonly string[] {
    return this.#keyColumns.items;
  }

  /** Adds the key columns of a class on the table. */
  addKeyColumns(columns: readonly string[]): void {
    this.#keyColumns.add(columns);
  }

  /** Every index (`cacheIndexes`) of every cached class on the table: the lists a write to it may change. */
  get indexColumns(): readonly string[] {
    return this.#indexColumns.items;
  }

  addIndexColumns(indexes: readonly string[]): void {
    this.#indexColumns.add(indexes);
  }
}

/** The union of the names classes add, as an array remade only when it grows (every write reads it). */
class Union {
  readonly #names = new Set<string>();
  #items: readonly string[] = [];

  get items(): readonly string[] {
    return this.#items;
  }

  add(names: readonly string[]): void {
    for (const name of names) this.#names.add(name);
    if (this.#items.length !== this.#names.size) this.#items = [...this.#names];
  }
}

function lastSegment(table: string): string {
  return table.slice(table.lastIndexOf('.') + 1);
}
