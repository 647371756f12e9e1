import type { Knex } from 'knex';
import type Keyv from 'keyv';
import { flushKeys } from './flush.js';
import type { GuardedStore } from '../store/guarded-store.js';

/**
 * The keys a transaction's writes must flush, per Keyv (models sharing a store flush together, in one call),
 * kept until its outermost commit.
 */
type PendingFlush = Map<Keyv, { store: GuardedStore; keys: Set<string> }>;

interface Transactor {
  readonly isTransaction?: boolean;
  readonly parentTransaction?: Transactor;
  readonly executionPromise?: Promise<unknown>;
  readonly client?: { query?: (...args: unknown[]) => Promise<unknown> };
}

const pendingByTransaction = new WeakMap<Transactor, PendingFlush>();

/**
 * Flushes `keys` now when `knex` is not a transaction; inside one, after its outermost transaction commits.
 * Flushing before the commit would let a reader outside the transaction refill the old, still committed row;
 * savepoints release into their parent, so only the outermost COMMIT makes the writes visible. After a
 * rollback nothing is flushed: the cache never held what the transaction wrote (reads with a transaction
 * neither use nor fill the cache).
 */
export async function flushAfterCommit(knex: Knex | undefined, store: GuardedStore, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const root = outermost(knex as Transactor | undefined);
  if (!root) {
    await flushKeys(store, keys);
    return;
  }
  let pending = pendingByTransaction.get(root);
  if (!pending) {
    pending = new Map();
    pendingByTransaction.set(root, pending);
    onOutcome(root, pending);
  }
  let entry = pending.get(store.keyv);
  if (!entry) pending.set(store.keyv, (entry = { store, keys: new Set() }));
  for (const key of keys) entry.keys.add(key);
}

function outermost(knex: Transactor | undefined): Transactor | undefined {
  if (!knex?.isTransaction) return undefined;
  let root = knex;
  while (root.parentTransaction?.isTransaction) root = root.parentTransaction;
  return root;
}

/**
 * Runs the flush between the outermost COMMIT and the moment the transaction's promise resolves, so that
 * `await knex.transaction(...)`, `await Model.transaction(...)` and `await trx.commit()` all return after the
 * cache is clean. knex resolves those promises only once its COMMIT query has resolved, so the flush is chained
 * onto that query on this transaction's own client. Should a knex version route COMMIT elsewhere, the
 * transaction's `executionPromise` still triggers the flush (then just after, not before, the caller resumes).
 */
function onOutcome(root: Transactor, pending: PendingFlush): void {
  let settled = false;
  const flush = async (): Promise<void> => {
    if (settled) return;
    settled = true;
    await Promise.all([...pending.values()].map(({ store, keys }) => flushKeys(store, keys)));
  };
  const client = root.client;
  const query = client?.query;
  if (client && typeof query === 'function' && Object.prototype.hasOwnProperty.call(client, 'query')) {
    client.query = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const sql = statement(args[1]);
      const result = query.apply(this, args);
      if (/^\s*COMMIT\b/i.test(sql)) return result.then(async (value) => (await flush(), value));
      if (/^\s*ROLLBACK\b/i.test(sql)) settled = true;
      return result;
    };
  }
  root.executionPromise?.then(flush, () => undefined);
}

function statement(query: unknown): string {
  if (typeof query === 'string') return query;
  if (query && typeof query === 'object' && typeof (query as { sql?: unknown }).sql === 'string') return (query as { sql: string }).sql;
  return '';
}
