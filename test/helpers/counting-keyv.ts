import Keyv from 'keyv';

/**
 * A Keyv store over a Map that is not itself a Map: Keyv (and so the cache's generic driver) goes through it call by
 * call, where a Map would be read by the cache directly (the memory driver), past the counts.
 */
export class MapAdapter {
  readonly map: Map<string, unknown>;
  readonly opts = {};
  constructor(map = new Map<string, unknown>()) {
    this.map = map;
  }
  get(key: string): unknown {
    return this.map.get(key);
  }
  set(key: string, value: unknown): boolean {
    this.map.set(key, value);
    return true;
  }
  delete(key: string): boolean {
    return this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  keys(): IterableIterator<string> {
    return this.map.keys();
  }
  on(): this {
    return this;
  }
}

interface RedisClientLike {
  [name: string]: unknown;
}

/**
 * A Keyv that counts the calls the cache makes on it (and the keys they carry). In memory it is a Keyv over a
 * MapAdapter, counted at Keyv's methods; over @keyv/redis, where the cache sends commands through the adapter's
 * client, each `getClient()` the cache makes is one call: counted as `getMany` when it reads (MGET, with the SET NX
 * that create missing tokens beside it), `setMany` when it writes; deletions are counted through Keyv's preDelete hook.
 */
export class CountingKeyv extends Keyv {
  calls: Record<string, number> = {};
  private getManyWaiters: ((value: void) => void)[] = [];
  keysDeleted: string[][] = [];
  /** The ttl of every entry written through setMany, by key. */
  ttls = new Map<string, number | undefined>();
  private failingNow = false;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Keyv's constructor overloads, passed through
  constructor(store?: any, options?: any) {
    super(
      store === undefined || store instanceof Map ? new MapAdapter(store) : isMapOptions(store) ? { ...store, store: new MapAdapter(store.store) } : store,
      options,
    );
    this.countClientCalls();
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

  /**
   * Counts the calls the cache's Redis driver makes through the adapter's client (see the class comment), which
   * it takes from `getClient()`, or from `client` when that is open. While a test has replaced `getClient` (a
   * failure, a hang, a hold), `client` answers a closed stand-in, so every call goes through the replacement.
   */
  private countClientCalls(): void {
    const adapter = this.store as { getClient?: () => Promise<RedisClientLike>; client?: RedisClientLike };
    const getClient = adapter.getClient;
    if (typeof getClient !== 'function') return;
    const clientOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(adapter), 'client')?.get;
    const counting = this;
    const viewOf = (client: RedisClientLike): RedisClientLike => {
      let read = false;
      let written = false;
      const view: RedisClientLike = Object.create(client);
      const reading =
        (name: string) =>
        (...args: unknown[]) => {
          if (!read) counting.count('getMany');
          read = true;
          const answer = (client[name] as (...a: unknown[]) => Promise<unknown>).apply(client, args);
          return answer.finally(() => {
            for (const resolve of counting.getManyWaiters.splice(0)) resolve();
          });
        };
      view.mGet = reading('mGet');
      // the driver's MGET to a single node goes through sendCommand (redis-driver.ts `mget`)
      view.sendCommand = (...args: unknown[]) =>
        (args[0] as string[])[0] === 'MGET'
          ? reading('sendCommand')(...args)
          : (client.sendCommand as (...a: unknown[]) => Promise<unknown>).apply(client, args);
      view.set = (key: string, value: string, options?: { PX?: number; NX?: boolean }) => {
        // SET NX beside an MGET creates a missing token within the read (the driver's readCreating)
        if (options?.NX) return (client.set as (...a: unknown[]) => Promise<unknown>).call(client, key, value, options);
        if (!written) counting.count('setMany');
        written = true;
        counting.ttls.set(counting.unprefixed(key), options?.PX);
        return (client.set as (...a: unknown[]) => Promise<unknown>).call(client, key, value, options);
      };
      return view;
    };
    const countingGetClient = async function (this: unknown) {
      return viewOf(await getClient.call(this));
    };
    adapter.getClient = countingGetClient;
    if (!clientOf) return;
    Object.defineProperty(adapter, 'client', {
      configurable: true,
      get(this: typeof adapter) {
        const client = clientOf.call(this) as RedisClientLike;
        return this.getClient === countingGetClient && client.isOpen ? viewOf(client) : { isOpen: false };
      },
    });
  }

  /** A key as the cache names it, from the key Redis holds (Keyv's and the adapter's prefixes removed). */
  private unprefixed(stored: string): string {
    const tag = stored.indexOf('{');
    return tag >= 0 ? stored.slice(tag) : stored;
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

  /** From now on no read is ever answered: Keyv's getMany, and (for @keyv/redis) every command of the adapter's client. */
  hang(): void {
    this.getMany = () => new Promise(() => {});
    const adapter = this.store as { getClient?: () => Promise<unknown> };
    if (typeof adapter.getClient === 'function') adapter.getClient = () => new Promise(() => {});
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

function isMapOptions(options: unknown): options is { store: Map<string, unknown> } {
  return typeof options === 'object' && options !== null && (options as { store?: unknown }).store instanceof Map;
}

/**
 * A promise that `waiters` will resolve. The cache's check timer is unref'd (it must not keep an app alive), so
 * a handle keeps the test's event loop running until then.
 */
function waitOn<T>(waiters: ((value: T) => void)[]): Promise<T> {
  const keepAlive = setInterval(() => undefined, 60_000);
  return new Promise<T>((resolve) => waiters.push(resolve)).finally(() => clearInterval(keepAlive));
}
