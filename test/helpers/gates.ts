import type { Model, QueryBuilder } from 'objection';

/** A promise with its resolve handle, to hold one side of an interleaving until the test lets it go. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

export interface Hold {
  /** Resolves once the held query has read its rows from the DB. */
  reached: Promise<void>;
  /** Lets the held query hand its rows on. */
  release(): void;
}

/**
 * A subclass whose next query, once it has its rows, waits until released: the tool for holding a reader's DB
 * read open while a writer runs (deterministic, no sleeps). Entries are shared with the parent (same table).
 */
export function gated<C extends typeof Model>(Base: C): { Gated: C; holdNextQuery(): Hold } {
  let next: { reached: ReturnType<typeof gate<void>>; release: ReturnType<typeof gate<void>> } | undefined;
  const Parent = Base as unknown as typeof Model;
  class Gated extends Parent {
    static override query(...args: unknown[]): QueryBuilder<Model> {
      const query = (Parent.query as (...a: unknown[]) => QueryBuilder<Model>).apply(this, args);
      const hold = next;
      if (hold) {
        next = undefined;
        query.runAfter(async (rows: unknown) => {
          hold.reached.open();
          await hold.release.promise;
          return rows;
        });
      }
      return query;
    }
  }
  // The parent's name: entries are kept per class name (classes sharing a table keep theirs apart), and this
  // subclass stands for the parent.
  Object.defineProperty(Gated, 'name', { value: Base.name });
  return {
    Gated: Gated as unknown as C,
    holdNextQuery() {
      const hold = { reached: gate(), release: gate() };
      next = hold;
      return { reached: hold.reached.promise, release: () => hold.release.open() };
    },
  };
}

/**
 * Holds the next DB query whose SQL matches `pattern`, once the DB has answered it and its connection is back
 * in the pool, until released: for queries the test cannot reach through a model class (a cached query's
 * statement). Works on knex's client, which runs every query builder's query.
 */
export function holdNextSql(knex: unknown, pattern: RegExp): Hold {
  const reached = gate();
  const release = gate();
  type Runner = { run(...args: unknown[]): Promise<unknown> };
  const client = (knex as { client: { runner(builder: { toSQL(): { sql?: string } }): Runner } }).client;
  const original = client.runner;
  let armed = true;
  client.runner = function (this: unknown, builder) {
    const runner = original.call(this, builder);
    const run = runner.run;
    runner.run = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const result = await run.apply(this, args);
      if (armed && pattern.test(builder.toSQL().sql ?? '')) {
        armed = false;
        reached.open();
        await release.promise;
      }
      return result;
    };
    return runner;
  };
  return { reached: reached.promise, release: () => release.open() };
}
