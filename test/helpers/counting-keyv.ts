import Keyv from 'keyv';

/** A Keyv that counts the calls the cache makes on it (and the keys they carry). */
export class CountingKeyv extends Keyv {
  calls: Record<string, number> = {};
  keysDeleted: string[][] = [];
  /** The ttl of every entry written through setMany, by key. */
  ttls = new Map<string, number | undefined>();
  private failingNow = false;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Keyv's constructor overloads, passed through
  constructor(store?: any, options?: any) {
    super(store, options);
    // Deletions are counted through Keyv's preDelete hook: Keyv's own delete/deleteMany announce themselves there,
    // and so does the cache's native UNLINK path for @keyv/redis, which does not go through deleteMany.
    this.hooks.addHandler('preDelete', (data: { key: string | string[] }) => {
      const strip = (key: string) => (this.namespace && key.startsWith(`${this.namespace}:`) ? key.slice(this.namespace.length + 1) : key);
      if (Array.isArray(data.key)) {
        this.count('deleteMany');
        this.keysDeleted.push(data.key.map(strip));
      } else {
        this.count('delete');
      }
    });
  }

  /** Every call fails while set, whichever way it reaches the store (Keyv's methods or the adapter's client). */
  get failing(): boolean {
    return this.failingNow;
  }
  set failing(value: boolean) {
    this.failingNow = value;
    const adapter = this.store as { getClient?: () => Promise<unknown>; realGetClient?: () => Promise<unknown> };
    if (typeof adapter.getClient !== 'function') return;
    adapter.realGetClient ??= adapter.getClient;
    adapter.getClient = value ? () => Promise.reject(new Error('store down (client)')) : adapter.realGetClient;
  }

  private deleteHold: (() => Promise<void>) | undefined;

  /**
   * From now on every deletion waits until `release()`: `started` resolves when the first one is waiting. Holds
   * Keyv's delete/deleteMany and, for @keyv/redis, the adapter's client (the cache's native UNLINK path), so no
   * store read may be made while a hold is on.
   */
  holdDeletes(): { started: Promise<void>; release(): void } {
    let open!: () => void;
    const started = new Promise<void>((resolve) => (open = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const hold = async () => {
      open();
      await released;
    };
    this.deleteHold = hold;
    const adapter = this.store as { getClient?: () => Promise<unknown> };
    if (typeof adapter.getClient === 'function') {
      const getClient = adapter.getClient;
      adapter.getClient = async function (this: unknown) {
        await hold();
        return getClient.call(this);
      };
    }
    return { started, release };
  }

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    if (this.failingNow && name !== 'delete' && name !== 'deleteMany') throw new Error(`store down (${name})`);
  }

  private getWaiters: ((value: void) => void)[] = [];

  /**
   * Resolves when the next `get` on this store has answered. The cache calls `get` only to check a store its
   * breaker has given up on, so this is the next background check (which may still have failed, if the store
   * answered after its timeout: see `untilServed`).
   */
  nextGet(): Promise<void> {
    return waitOn(this.getWaiters).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  private getCallWaiters: ((value: void) => void)[] = [];

  /** Resolves when `get` is next called (a background check starts), whether or not it is ever answered. */
  nextGetCall(): Promise<void> {
    return waitOn(this.getCallWaiters);
  }

  /**
   * Runs `read` until one of its runs reaches this store: after an outage, that is when the cache's breaker has
   * closed. Between runs it waits for the next background check, so it never polls on a clock.
   */
  async untilServed(read: () => Promise<unknown>): Promise<void> {
    for (;;) {
      const before = this.calls.getMany ?? 0;
      await read();
      if ((this.calls.getMany ?? 0) > before) return;
      await this.nextGet();
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Keyv's overloads, passed through
  override async get(key: any, options?: any): Promise<any> {
    for (const resolve of this.getCallWaiters.splice(0)) resolve();
    try {
      this.count('get');
      return await super.get(key, options);
    } finally {
      for (const resolve of this.getWaiters.splice(0)) resolve();
    }
  }
  override async getMany(keys: string[], options?: any): Promise<any> {
    this.count('getMany');
    try {
      return await super.getMany(keys, options);
    } finally {
      for (const resolve of this.getManyWaiters.splice(0)) resolve();
    }
  }

  private getManyWaiters: ((value: void) => void)[] = [];

  /** Resolves (a tick after) the next `getMany` on this store has answered. */
  nextGetMany(): Promise<void> {
    return waitOn(this.getManyWaiters).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
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
    await this.deleteHold?.();
    if (this.failingNow) throw new Error('store down (delete)');
    return super.delete(...args);
  }
  override async deleteMany(keys: string[]): Promise<boolean> {
    await this.deleteHold?.();
    if (this.failingNow) throw new Error('store down (deleteMany)');
    const deleted = await super.deleteMany(keys);
    for (const resolve of this.deleteManyWaiters.splice(0)) resolve(keys);
    return deleted;
  }

  private deleteManyWaiters: ((keys: string[]) => void)[] = [];

  /** Resolves with the keys of the next `deleteMany` that gets through (Keyv's path; not the Redis UNLINK one). */
  nextDeleteMany(): Promise<string[]> {
    return waitOn(this.deleteManyWaiters);
  }
  resetCounts(): void {
    this.calls = {};
    this.keysDeleted = [];
  }
}

/**
 * A promise that `waiters` will resolve. The cache's check timer is unref'd (it must not keep an app alive), so
 * a handle keeps the test's event loop running until then.
 */
function waitOn<T>(waiters: ((value: T) => void)[]): Promise<T> {
  const keepAlive = setInterval(() => undefined, 60_000);
  return new Promise<T>((resolve) => waiters.push(resolve)).finally(() => clearInterval(keepAlive));
}
