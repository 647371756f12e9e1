import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { outermostTransaction, sqlOf, wrapTransactionQuery, type KnexTransaction } from '../core/internals.js';
import type { GuardedStore } from '../store/guarded-store.js';
import { flushKeys } from './flush.js';

/**
 * The keys a transaction's writes must flush, per Keyv (models sharing a store flush together, in one call),
 * deferred to its outermost commit.
 */
type Deferred = Map<Keyv, { store: GuardedStore; keys: Set<string> }>;

const deferredByTransaction = new WeakMap<KnexTransaction, Deferred>();

/**
 * Flushes `keys` now when `knex` is not a transaction; inside one, after its outermost transaction commits.
 * Flushing before the commit would let a reader outside the transaction refill the old, still committed row;
 * savepoints release into their parent, so only the outermost COMMIT makes the writes visible. After a
 * rollback nothing is flushed: the cache never held what the transaction wrote (reads with a transaction
 * neither use nor fill the cache).
 */
export async function flushAfterCommit(knex: Knex | undefined, store: GuardedStore, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const root = outermostTransaction(knex);
  if (!root) {
    await flushKeys(store, keys);
    return;
  }
  let deferred = deferredByTransaction.get(root);
  if (!deferred) {
    deferred = new Map();
    deferredByTransaction.set(root, deferred);
    onOutcome(root, deferred);
  }
  let entry = deferred.get(store.keyv);
  if (!entry) deferred.set(store.keyv, (entry = { store, keys: new Set() }));
  for (const key of keys) entry.keys.add(key);
}

/**
 * Runs the flush between the outermost COMMIT and the moment the transaction's promise resolves, so that
 * `await knex.transaction(...)`, `await Model.transaction(...)` and `await trx.commit()` all return after the
 * cache is clean. knex resolves those promises only once its COMMIT query has resolved, so the flush is chained
 * onto that query on this transaction's own client. Should a knex version route COMMIT elsewhere, the
 * transaction's `executionPromise` still triggers the flush (then just after, not before, the caller resumes).
 */
function onOutcome(root: KnexTransaction, deferred: Deferred): void {
  let settled = false;
  const flush = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    await Promise.all([...deferred.values()].map(({ store, keys }) => flushKeys(store, keys)));
  };
  wrapTransactionQuery(
    root,
    (query) =>
      function (this: unknown, ...args: unknown[]): Promise<unknown> {
        const sql = sqlOf(args[1]);
        const result = query.apply(this, args);
        if (/^\s*COMMIT\b/i.test(sql)) return result.then(async (value) => (await flush(), value));
        if (/^\s*ROLLBACK\b/i.test(sql)) settled = true;
        return result;
      },
  );
  root.executionPromise?.then(flush, () => undefined);
}
