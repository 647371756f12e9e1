import Keyv from 'keyv';

/** A Keyv that counts the calls the cache makes on it (and the keys they carry). */
export class CountingKeyv extends Keyv {
  calls: Record<string, number> = {};
  keysDeleted: string[][] = [];
  /** The ttl of every entry written through setMany, by key. */
  ttls = new Map<string, number | undefined>();
  failing = false;

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    if (this.failing) throw new Error(`store down (${name})`);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Keyv's overloads, passed through
  override async get(key: any, options?: any): Promise<any> {
    this.count('get');
    return super.get(key, options);
  }
  override async getMany(keys: string[], options?: any): Promise<any> {
    this.count('getMany');
    return super.getMany(keys, options);
  }
  override async set(...args: Parameters<Keyv['set']>): Promise<boolean> {
    this.count('set');
    return super.set(...args);
  }
  override async setMany(...args: Parameters<Keyv['setMany']>): Promise<any> {
    this.count('setMany');
    for (const entry of args[0]) this.ttls.set(entry.key, entry.ttl);
    return super.setMany(...args);
  }
  override async delete(...args: Parameters<Keyv['delete']>): Promise<boolean> {
    this.count('delete');
    return super.delete(...args);
  }
  override async deleteMany(keys: string[]): Promise<boolean> {
    this.count('deleteMany');
    this.keysDeleted.push(keys);
    return super.deleteMany(keys);
  }
  resetCounts(): void {
    this.calls = {};
    this.keysDeleted = [];
  }
}

