import type { Model } from 'objection';
import { plainRowReading, setsDatabaseJsonPlainly } from '../core/internals.js';

/**
 * The model instance of a row in its DB form (a fresh object: the caller's to keep), exactly as Objection's
 * `fromDatabaseJson` makes it: `new modelClass()`, then the instance's `$setDatabaseJson(row)`. Where that comes
 * down to assigning the row's columns to the instance, after the column name mappers if any (core/internals.ts
 * `plainRowReading`), it does only that; anywhere else (JSON attributes, a class's or instance's own parsing)
 * Objection's methods do it.
 */
export function rowModel<M extends Model>(modelClass: typeof Model, row: Record<string, unknown>): M {
  const reading = plainRowReading(modelClass);
  if (reading === undefined) return modelClass.fromDatabaseJson(row) as M;
  const model = new modelClass() as M;
  if (!setsDatabaseJsonPlainly(model)) {
    // the rest of Objection's fromDatabaseJson, which hands out the instance whatever this answers
    model.$setDatabaseJson(row);
    return model;
  }
  return Object.assign(model, reading.mappers ? reading.mappers.parse(row) : row);
}
