import type { Model } from 'objection';
import { assignsDatabaseJson } from '../core/internals.js';

/**
 * The model instance of a row in its DB form (a fresh object: the caller's to keep), exactly as Objection's
 * `fromDatabaseJson` makes it. Where that comes down to assigning the row's columns to a new instance (a class
 * without column name mappers, JSON attributes or its own parsing: core/internals.ts `assignsDatabaseJson`), it
 * does only that; anywhere else Objection's method makes it.
 */
export function rowModel<M extends Model>(modelClass: typeof Model, row: Record<string, unknown>): M {
  if (assignsDatabaseJson(modelClass)) return Object.assign(new modelClass(), row) as M;
  return modelClass.fromDatabaseJson(row) as M;
}
