import { readFileSync } from 'node:fs';
// The tables of README's Performance section, from bench/results.json (one `npm run bench` run); section.py
// puts them into README with the prose around them. Rows are found by the names bench/run.ts gives its cases.
const data = JSON.parse(readFileSync(new URL('../results.json', import.meta.url), 'utf8'));
const rows = data.results;
const find = (db, store, name) => {
  const r = rows.find((x) => x.db === db && x.store === store && x.name === name);
  if (!r) throw new Error(`${db} ${store} ${name}`);
  return r;
};
const cols = [
  ['sqlite', 'memory'],
  ['sqlite', 'redis'],
  ['postgres', 'memory'],
  ['postgres', 'redis'],
];
const fmt = (n) => Math.round(n).toLocaleString('en');
const x = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '×';
const us = (r) => (r.p50 * 1000 >= 100 ? (r.p50 * 1000).toFixed(0) : (r.p50 * 1000).toFixed(1)) + ' µs';
const cell = (name, base = 'uncached') =>
  cols.map(([db, st]) => {
    const r = find(db, st, name);
    const ratio = r.ratios[base];
    return `${fmt(r.opsPerSec)}${ratio === undefined ? '' : ` (${x(ratio)})`}`;
  });
const line = (label, cells) => `| ${label} | ${cells.join(' | ')} |`;
const out = [];
out.push('| case | SQLite, memory | SQLite, Redis | PostgreSQL, memory | PostgreSQL, Redis |', '| --- | --- | --- | --- | --- |');
out.push(line('`get` hit', cell('get (hit)')));
out.push(
  line(
    '`get` hit with `localCache`',
    cols.map(([db, st]) =>
      st === 'redis'
        ? `${fmt(find(db, st, 'get (hit) from the local tier (localCache)').opsPerSec)} (${x(find(db, st, 'get (hit), interleaved with the hand-written one').p50 / find(db, st, 'get (hit) from the local tier (localCache)').p50)} the Redis hit, p50)`
        : '',
    ),
  ),
);
out.push(line('cached miss', cell('get (cached miss)')));
out.push(line('cold `get` (miss, DB, fill)', cell('get (cold: miss, DB, fill)')));
out.push(line('`getMany(100)` warm', cell('getMany(100) warm')));
out.push(line('`getMany(100)` cold', cell('getMany(100) cold')));
out.push(line('fan-out: 100 resolvers, a `get` each, warm (× the same 100 `findOne`s)', cell('fan-out: 100 resolvers, a get() each, warm')));
out.push(line('the same, cold', cell('fan-out: 100 resolvers, a get() each, cold')));
out.push(line("`getAllBy`: a post's 5 comments, warm (× the same `where` uncached)", cell("getAllBy: a post's 5 comments, warm")));
out.push(line('the same, cold (list and rows flushed)', cell("getAllBy: a post's 5 comments, cold (list and rows flushed)")));
out.push(
  line(
    "has-many: 20 posts `withGraphFetched('comments')`, comments cached (× the same graph uncached)",
    cell('20 posts withGraphFetched(comments), comments cached, warm'),
  ),
);
out.push(
  line(
    "many-to-many: 20 posts `withGraphFetched('tags')`, tags cached (× the same graph uncached)",
    cell('20 posts withGraphFetched(tags), many-to-many cached, warm'),
  ),
);
out.push(line('`save()`: UPDATE and flush', cell('save() (UPDATE and flush)')));
out.push(line('bulk patch of 1,000 rows', cell('bulk patch of 1,000 rows (and flush)')));
out.push(
  line(
    '1,000 concurrent `get`s of a cold key',
    cols.map(([db, st]) => {
      const r = find(db, st, '1,000 concurrent get of one cold key');
      return `${fmt(r.opsPerSec)} (${x(r.ratios.uncached)}), ${r.dbPerOp} query`;
    }),
  ),
);
out.push(line('mixed: 95% reads, Zipf over 10,000 slugs, 5% writes, 64 at a time', cell('mixed: objection-cache')));
out.push(
  line(
    'mixed × hand-written / × bentocache',
    cols.map(([db, st]) => {
      const r = find(db, st, 'mixed: objection-cache');
      return `${x(r.ratios['hand-written'])} / ${x(r.ratios.bentocache)}`;
    }),
  ),
);
out.push('');
out.push(
  'Hits against the hand-written cache-aside on the same kind of store, measured in alternating rounds (p50; cost × the hand-written one, below 1 is cheaper):',
  '',
);
out.push('| hit | SQLite | PostgreSQL |', '| --- | --- | --- |');
const intervalOf = (c) => (c.pairedInterval === undefined ? '' : `, 95% CI ${c.pairedInterval.map((x) => x.toFixed(2)).join('–')}`);
const pairedOf = (c) => (c.pairedRatio === undefined ? '' : ` (paired ${c.pairedRatio.toFixed(2)}×${intervalOf(c)})`);
const pair = (st, base, caseName) =>
  ['sqlite', 'postgres'].map((db) => {
    const b = find(db, st, base),
      c = find(db, st, caseName);
    return `${us(c)} vs ${us(b)}: **${(c.p50 / b.p50).toFixed(2)}×**${pairedOf(c)}`;
  });
out.push(
  line(
    'default store vs `keyv.get` on a plain `new Keyv()`',
    pair('memory', 'hand-written cache-aside hit (plain new Keyv()), interleaved', 'get (hit), default store, interleaved'),
  ),
);
const plainBase = (db) =>
  rows.filter((r) => r.db === db && r.store === 'memory' && r.name === 'hand-written cache-aside hit (plain new Keyv()), interleaved')[1];
out.push(
  line(
    'a plain `new Keyv()`, both',
    ['sqlite', 'postgres'].map((db) => {
      const b = plainBase(db),
        c = find(db, 'memory', 'get (hit) on a plain new Keyv()');
      return `${us(c)} vs ${us(b)}: **${(c.p50 / b.p50).toFixed(2)}×**${pairedOf(c)}`;
    }),
  ),
);
out.push(
  line(
    'a Keyv over another adapter, both',
    pair('memory', 'hand-written cache-aside hit (Keyv over another adapter), interleaved', 'get (hit) on a Keyv over another adapter'),
  ),
);
out.push(line('Redis, both', pair('redis', 'hand-written cache-aside hit, interleaved', 'get (hit), interleaved with the hand-written one')));
const processes = (db) => find(db, 'redis', 'get (hit) against the hand-written one, in processes of their own');
out.push(
  line(
    `Redis, both, in ${processes('sqlite').processRatios.length} processes of their own (median of their paired ratios, 95% CI)`,
    ['sqlite', 'postgres'].map((db) => {
      const b = find(db, 'redis', 'hand-written cache-aside hit, in processes of their own'),
        c = processes(db);
      return `${us(c)} vs ${us(b)}: **${c.pairedRatio.toFixed(2)}×**, 95% CI ${c.pairedInterval.map((v) => v.toFixed(2)).join('–')}`;
    }),
  ),
);
out.push(
  line(
    'Redis, both, the model from a second copy of the library (the same code, type feedback of its own)',
    pair(
      'redis',
      'hand-written cache-aside hit, interleaved with the second copy',
      'get (hit) from a second copy of the library, against the hand-written one',
    ),
  ),
);
out.push(
  line(
    '`localCache` on Redis vs `keyv.get` on a plain `new Keyv()`',
    pair('redis', 'hand-written in-memory cache-aside hit (new Keyv()), interleaved', 'get (hit) from the local tier (localCache)'),
  ),
);
out.push('');
out.push("Redis per operation (SQLite run; commands from `INFO commandstats`, round trips counted at the client's sockets):", '');
out.push('| operation | commands | round trips | p50 |', '| --- | ---: | ---: | ---: |');
for (const [label, name] of [
  ['hand-written hit', 'hand-written cache-aside hit'],
  ['`get` hit', 'get (hit)'],
  ['hand-written cold', 'hand-written cache-aside cold'],
  ['cold `get`', 'get (cold: miss, DB, fill)'],
  ['`getMany(100)` warm', 'getMany(100) warm'],
  ['`getMany(100)` cold', 'getMany(100) cold'],
  ['`getAllBy` warm (5 rows)', "getAllBy: a post's 5 comments, warm"],
  ['`getAllBy` cold', "getAllBy: a post's 5 comments, cold (list and rows flushed)"],
  ['`save()`', 'save() (UPDATE and flush)'],
  ['bulk patch of 1,000 rows', 'bulk patch of 1,000 rows (and flush)'],
  ['`query().cache()` warm', 'query().cache() list (warm)'],
  ['`query().cache()` cold', 'query().cache() list (cold: after a write)'],
]) {
  const r = find('sqlite', 'redis', name);
  out.push(`| ${label} | ${r.redisPerOp} | ${r.roundTripsPerOp} | ${us(r)} |`);
}
out.push('');
out.push('| case | SQLite, memory | SQLite, Redis | PostgreSQL, memory | PostgreSQL, Redis |', '| --- | --- | --- | --- | --- |');
out.push(line('`query().cache()`, a 20-row list, warm', cell('query().cache() list (warm)')));
out.push(
  line(
    'the same × hand-written list cache',
    cols.map(([db, st]) => x(find(db, st, 'query().cache() list (warm)').ratios['hand-written'])),
  ),
);
out.push(line('the same, cold after a write (tokens, query, fill)', cell('query().cache() list (cold: after a write)')));
out.push(line('`count(*)` of 100,000 rows, warm', cell('query().cache() count (warm)')));
out.push(line('`query().findById()` with `cacheQueries`', cell('query().findById() with cacheQueries')));
out.push(line('`cached()` value, warm (× computing the count)', cell('cached() value (warm)')));
out.push(
  line(
    'no `cache()`: `findOne` / the list, on a cached model (× a plain model, interleaved)',
    cols.map(
      ([db, st]) =>
        `${x(find(db, st, 'findOne on a cached model, not cached').ratios.uncached)} / ${x(find(db, st, 'list query on a cached model, not cached').ratios.uncached)}`,
    ),
  ),
);
out.push('');
out.push('| store | writes | reads | stale reads | window p50 | p99 | max |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const s of data.staleness ?? [])
  out.push(
    `| ${s.store} | ${fmt(s.writes)} | ${fmt(s.reads)} | ${fmt(s.staleReads)} | ${s.windowMs.p50.toFixed(2)} ms | ${s.windowMs.p99.toFixed(2)} ms | ${s.windowMs.max.toFixed(2)} ms |`,
  );
const outage = ['sqlite', 'postgres'].map((db) => find(db, 'redis', 'get during a Redis outage (server paused)'));
out.push(
  '',
  `outage p50: sqlite ${us(outage[0])} vs uncached ${us(find('sqlite', 'redis', 'uncached findOne'))}; postgres ${us(outage[1])} vs ${us(find('postgres', 'redis', 'uncached findOne'))}`,
);
out.push(`date ${data.date} machine ${data.machine}`);
const p50 = (db, st, n) => find(db, st, n).p50;
const ratioOf = (db, st, base, c, idx = 0) => {
  const bs = rows.filter((r) => r.db === db && r.store === st && r.name === base);
  return p50(db, st, c) / bs[idx].p50;
};
const nums = {
  def: ['sqlite', 'postgres'].map((db) =>
    ratioOf(db, 'memory', 'hand-written cache-aside hit (plain new Keyv()), interleaved', 'get (hit), default store, interleaved', 0),
  ),
  plain: ['sqlite', 'postgres'].map((db) =>
    ratioOf(db, 'memory', 'hand-written cache-aside hit (plain new Keyv()), interleaved', 'get (hit) on a plain new Keyv()', 1),
  ),
  other: ['sqlite', 'postgres'].map((db) =>
    ratioOf(db, 'memory', 'hand-written cache-aside hit (Keyv over another adapter), interleaved', 'get (hit) on a Keyv over another adapter'),
  ),
  redis: ['sqlite', 'postgres'].map((db) =>
    ratioOf(db, 'redis', 'hand-written cache-aside hit, interleaved', 'get (hit), interleaved with the hand-written one'),
  ),
  local: ['sqlite', 'postgres'].map((db) =>
    ratioOf(db, 'redis', 'hand-written in-memory cache-aside hit (new Keyv()), interleaved', 'get (hit) from the local tier (localCache)'),
  ),
  localVsRedis: ['sqlite', 'postgres'].map(
    (db) => p50(db, 'redis', 'get (hit), interleaved with the hand-written one') / p50(db, 'redis', 'get (hit) from the local tier (localCache)'),
  ),
  redisPaired: ['sqlite', 'postgres'].map((db) => find(db, 'redis', 'get (hit), interleaved with the hand-written one').pairedRatio),
  redisInterval: ['sqlite', 'postgres'].map((db) => find(db, 'redis', 'get (hit), interleaved with the hand-written one').pairedInterval),
  redisCopy: ['sqlite', 'postgres'].map((db) => {
    const c = find(db, 'redis', 'get (hit) from a second copy of the library, against the hand-written one');
    return { ratio: c.pairedRatio, interval: c.pairedInterval };
  }),
  redisProcesses: ['sqlite', 'postgres'].map((db) => {
    const c = find(db, 'redis', 'get (hit) against the hand-written one, in processes of their own');
    return { ratio: c.pairedRatio, interval: c.pairedInterval, each: c.processRatios };
  }),
  otherPaired: ['sqlite', 'postgres'].map((db) => find(db, 'memory', 'get (hit) on a Keyv over another adapter').pairedRatio),
  pgHit: find('postgres', 'memory', 'get (hit)').ratios.uncached,
  // what a query that uses no cache pays on a cached model: µs over the plain model's query, and that as a share
  hookCost: cols.flatMap(([db, st]) =>
    [
      ['uncached findOne, interleaved', 'findOne on a cached model, not cached'],
      ['uncached list query, interleaved', 'list query on a cached model, not cached'],
    ].map(([base, name]) => {
      const c = find(db, st, name);
      return { us: (c.pairedRatio - 1) * p50(db, st, base) * 1000, share: c.pairedRatio - 1 };
    }),
  ),
};
out.push('NUMS ' + JSON.stringify(nums));
console.log(out.join('\n'));
