import type Keyv from 'keyv';
import type { StoreDriver, StoreEntry } from './driver.js';

/** Any Keyv store the other drivers do not know: every call through Keyv's own batch methods. */
export class KeyvDriver implements StoreDriver {
  readonly kind = 'keyv';
  private readonly keyv: Keyv;

  constructor(keyv: Keyv) {
    this.keyv = keyv;
  }

  async getMany(keys: readonly string[]): Promise<readonly unknown[]> {
    return this.keyv.getMany([...keys]);
  }

  async setMany(entries: readonly StoreEntry[]): Promise<void> {
    await this.keyv.setMany(entries.map(({ key, value, ttl }) => ({ key, value, ttl: ttl === 0 ? undefined : ttl })));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await (keys.length === 1 ? this.keyv.delete(keys[0]!) : this.keyv.deleteMany([...keys]));
  }
}
