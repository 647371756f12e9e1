import { Model } from 'objection';
import { CachedModel } from 'objection-cache';

export class Post extends CachedModel(Model) {
  static override tableName = 'posts';
  static override cacheKeys = ['slug', 'name']; // unique columns; get() uses the first; the id column is always a key

  declare id: number;
  declare slug: string;
  declare name: string;
  declare body: string;

  static getByName(name: string) {
    return this.getBy('name', name);
  }
}
