import type { Model } from 'objection';
import { plainRowReading } from '../core/internals.js';

/**
 * The model instance of a row in its DB form (a fresh object: the caller's to keep), exactly as Objection's
 * `fromDatabaseJson` makes it. Where that comes down to assigning the row's columns to a new instance, after the
 * column name mappers if any (core/internals.ts `plainRowReading`), it does only that; anywhere else (JSON
 * attributes, a class's own parsing) Objection's method makes it.
 */
export function rowModel<M extends Model>(modelClass: typeof Model, row: Record<string, unknown>): M {
  const reading = plainRowReading(modelClass);
  if (reading === undefined) return modelClass.fromDatabaseJson(row) as M;
  return Object.assign(new modelClass(), reading.mappers ? reading.mappers.parse(row) : row) as M;
}
