import type { Knex } from 'knex';
import { knexBuilderState } from '../core/internals.js';
import type { ModelSettings } from '../config/settings.js';
import { compositeName, rowKeyOf } from '../core/keys.js';

/**
 * The ids of the rows an UPDATE or DELETE of a cached model actually touched, on PostgreSQL. The key SELECT
 * before the write reads the rows matching its condition then; under READ COMMITTED the write itself may also
 * touch a row another transaction inserted and committed in between (a phantom), whose keys that SELECT never
 * saw. The write is sent with `RETURNING <id>`, its answer is turned back into the row count Objection expects,
 * and the after-hook compares the ids: a row it did not read first flushes the model whole (its old keys are
 * unknown). Only where the app asked for no RETURNING of its own.
 */
const touched = new WeakMap<object, unknown[]>();

export function returnAffectedIds(knexBuilder: Knex.QueryBuilder, builder: object, settings: ModelSettings): void {
  const state = knexBuilderState(knexBuilder);
  if (state?.client.dialect !== 'postgresql' || state._single['returning'] !== undefined) return;
  const { idColumns } = settings;
  knexBuilder.returning(idColumns as string[]);
  const run = knexBuilder.then as (this: Knex.QueryBuilder, ...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(knexBuilder, 'then', {
    configurable: true,
    writable: true,
    value(onFulfilled?: (value: unknown) => unknown, onRejected?: (error: unknown) => unknown) {
      const counted = new Promise<unknown>((resolve, reject) => void run.call(knexBuilder, resolve, reject)).then((rows) => {
        if (!Array.isArray(rows)) return rows;
        // ids as the key SELECT's rows spell them (write-hooks.ts): a value, or a composite id's tuple
        touched.set(
          builder,
          rows.map((row: Record<string, unknown>) => (idColumns.length === 1 ? row[idColumns[0]!] : rowKeyOf(row, compositeName(idColumns)))),
        );
        return rows.length;
      });
      return counted.then(onFulfilled, onRejected);
    },
  });
}

/** The ids the write run by `builder` touched, where it asked (PostgreSQL); undefined elsewhere. */
export function affectedIds(builder: object): readonly unknown[] | undefined {
  return touched.get(builder);
}
