import test from 'ava';

import { decodeRecord, decodeRow, encodeRecord, encodeRow, type CacheRecord, type EncodedRow } from '../../../src/core/codec.js';
import { CHARACTERS_KEPT, LONGEST_TEXT_KEPT, TEXTS_KEPT } from '../../../src/core/opened-texts.js';

/** A record's fields as plain data (its row is an object of the codec's own, which keeps what it parsed). */
function fields(record: CacheRecord | undefined): (Omit<CacheRecord, 'row'> & { row: { json: string; tagged: boolean } | null }) | undefined {
  return record && { ...record, row: record.row && { json: record.row.json, tagged: record.row.tagged } };
}

function roundTrip(row: object): Record<string, unknown> {
  return decodeRow(encodeRow(row));
}

test('a plain row is untagged, its JSON is plain JSON, and it round-trips', (t) => {
  const row = { id: 1, title: 'Hello', draft: false, score: 1.5, note: null, tags: ['a', 'b'], meta: { n: 1, deep: [{ x: 'y' }] } };
  const encoded = encodeRow(row);
  t.false(encoded.tagged);
  t.is(encoded.json, JSON.stringify(row));
  t.deepEqual(decodeRow(encoded), row);
});

test('every decode hands out fresh objects', (t) => {
  const encoded = encodeRow({ id: 1, meta: { a: 1 } });
  const a = decodeRow(encoded);
  const b = decodeRow(encoded);
  t.not(a, b);
  t.not(a['meta'], b['meta']);
  (a['meta'] as Record<string, unknown>)['a'] = 2;
  t.deepEqual(b, { id: 1, meta: { a: 1 } });
});

test('Date round-trips as a Date, tagged', (t) => {
  const at = new Date('2020-01-02T03:04:05.678Z');
  const encoded = encodeRow({ at });
  t.true(encoded.tagged);
  const decoded = roundTrip({ at });
  t.true(decoded['at'] instanceof Date);
  t.is((decoded['at'] as Date).getTime(), at.getTime());
});

test('an invalid Date round-trips as an invalid Date', (t) => {
  const decoded = roundTrip({ at: new Date(Number.NaN) });
  t.true(decoded['at'] instanceof Date);
  t.true(Number.isNaN((decoded['at'] as Date).getTime()));
});

test('Buffer and Uint8Array round-trip as bytes (a view keeps only its own bytes)', (t) => {
  const buffer = Buffer.from([0, 1, 2, 254, 255]);
  const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
  const encoded = encodeRow({ buffer, view, empty: Buffer.alloc(0) });
  t.true(encoded.tagged);
  const decoded = decodeRow(encoded);
  t.true(Buffer.isBuffer(decoded['buffer']));
  t.deepEqual([...(decoded['buffer'] as Buffer)], [0, 1, 2, 254, 255]);
  t.deepEqual([...(decoded['view'] as Uint8Array)], [1, 2, 3]);
  t.is((decoded['empty'] as Buffer).length, 0);
});

test('bigint round-trips exactly', (t) => {
  const big = 2n ** 70n + 1n;
  const decoded = roundTrip({ big, negative: -5n });
  t.is(decoded['big'], big);
  t.is(decoded['negative'], -5n);
});

test('NaN and the infinities round-trip', (t) => {
  const decoded = roundTrip({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY, zero: 0 });
  t.true(Number.isNaN(decoded['nan']));
  t.is(decoded['inf'], Number.POSITIVE_INFINITY);
  t.is(decoded['ninf'], Number.NEGATIVE_INFINITY);
  t.is(decoded['zero'], 0);
});

test('tags nested in arrays and objects round-trip', (t) => {
  const at = new Date('2001-02-03T00:00:00.000Z');
  const row = { json: { list: [1, { at, big: 3n }, [Buffer.from('hi'), null]], plain: 'x' } };
  const decoded = roundTrip(row);
  const json = decoded['json'] as { list: [number, { at: Date; big: bigint }, [Buffer, null]]; plain: string };
  t.is(json.list[0], 1);
  t.is(json.list[1].at.getTime(), at.getTime());
  t.is(json.list[1].big, 3n);
  t.is(json.list[2][0].toString(), 'hi');
  t.is(json.list[2][1], null);
  t.is(json.plain, 'x');
});

test('user keys starting with ~ are never read as tags', (t) => {
  const rows: Record<string, unknown>[] = [
    { json: { '~n': 'Infinity' } },
    { json: { '~b': '12' } },
    { json: { '~d': null } },
    { json: { '~x': 'aGk=' } },
    { json: { '~o': { a: 1 } } },
    { json: { '~x': 1, other: 2 } },
    { '~top': 1, id: 2 },
    { json: [{ '~n': 'NaN' }] },
  ];
  for (const row of rows) t.deepEqual(roundTrip(row), row, JSON.stringify(row));
});

test('a __proto__ key stays an own property and changes no prototype (tagged and untagged rows)', (t) => {
  const fromDb = JSON.parse('{"id":1,"json":{"__proto__":{"polluted":true},"a":1}}') as Record<string, unknown>;
  for (const row of [fromDb, { ...fromDb, at: new Date(0) }]) {
    const encoded = encodeRow(row);
    const decoded = decodeRow(encoded);
    const json = decoded['json'] as Record<string, unknown>;
    t.is(Object.getPrototypeOf(json), Object.prototype, `tagged: ${encoded.tagged}`);
    t.true(Object.prototype.hasOwnProperty.call(json, '__proto__'));
    t.deepEqual(Object.getOwnPropertyDescriptor(json, '__proto__')?.value, { polluted: true });
    t.is(json['a'], 1);
    t.is(({} as Record<string, unknown>)['polluted'], undefined);
    t.is(Object.getPrototypeOf(decoded), Object.prototype);
  }
});

test('a top-level __proto__ key in a tagged row stays an own property', (t) => {
  const row = JSON.parse('{"__proto__":{"polluted":true},"at":null}') as Record<string, unknown>;
  row['at'] = new Date(0);
  const decoded = roundTrip(row);
  t.is(Object.getPrototypeOf(decoded), Object.prototype);
  t.true(Object.prototype.hasOwnProperty.call(decoded, '__proto__'));
  t.is((decoded as { polluted?: unknown }).polluted, undefined);
});

test('undefined properties are left out, undefined array items become null', (t) => {
  const decoded = roundTrip({ a: undefined, b: 1, list: [undefined, 2] });
  t.false('a' in decoded);
  t.deepEqual(decoded, { b: 1, list: [null, 2] });
});

test('functions and symbols cannot be cached', (t) => {
  t.throws(() => encodeRow({ f: () => 1 }), { instanceOf: TypeError, message: /function/ });
  t.throws(() => encodeRow({ s: Symbol('s') }), { instanceOf: TypeError, message: /symbol/ });
});

test('tagged is decided per row: a plain row after a tagged one is untagged', (t) => {
  t.true(encodeRow({ at: new Date(0) }).tagged);
  t.false(encodeRow({ id: 1 }).tagged);
  t.true(encodeRow({ n: Number.NaN }).tagged);
  t.true(encodeRow({ json: { '~k': 1 } }).tagged);
  t.false(encodeRow({ id: 2 }).tagged);
});

test('encodeRecord / decodeRecord: a plain row', (t) => {
  const row = encodeRow({ id: 1, text: 'a\nb' });
  const raw = encodeRecord('gen1', 'guard1', row);
  t.is(raw, `gen1\nguard1\np\n${row.json}`);
  const record = decodeRecord(raw);
  t.deepEqual(fields(record), { generation: 'gen1', guard: 'guard1', row: { json: row.json, tagged: false } });
  t.deepEqual(decodeRow(record!.row!), { id: 1, text: 'a\nb' });
});

test('encodeRecord / decodeRecord: a tagged row', (t) => {
  const row = encodeRow({ at: new Date(5) });
  const raw = encodeRecord('g', 'h', row);
  t.is(raw.split('\n')[2], 't');
  const record = decodeRecord(raw);
  t.deepEqual(fields(record)?.row, { json: row.json, tagged: true });
  t.is((decodeRow(record!.row!)['at'] as Date).getTime(), 5);
});

test('encodeRecord / decodeRecord: a miss decodes to row null', (t) => {
  const raw = encodeRecord('g-1_x', 'h', null);
  t.is(raw, 'g-1_x\nh\nm\n');
  t.deepEqual(fields(decodeRecord(raw)), { generation: 'g-1_x', guard: 'h', row: null });
});

test('decodeRecord: anything malformed is undefined', (t) => {
  const bad: unknown[] = [
    undefined,
    null,
    1,
    {},
    { generation: 'g', guard: 'h', row: null },
    '',
    'no newline',
    'g\nh',
    'g\nh\np',
    'g\nh\nx\n{}',
    'g\nh\npp\n{}',
    'g\nh\n\n{}',
    '\nh\np\n{}',
    'g\n\np\n{}',
  ];
  for (const raw of bad) t.is(decodeRecord(raw), undefined, JSON.stringify(raw));
});

test('decodeRecord hands the row text on as it is', (t) => {
  const record = decodeRecord('g\nh\np\n{"a":1}\nmore');
  const row: EncodedRow | null | undefined = record?.row;
  t.deepEqual(row && { json: row.json, tagged: row.tagged }, { json: '{"a":1}\nmore', tagged: false });
});

// A hot key's record comes back as the same text read after read: decoded once, its row parsed once.
test('decodeRecord decodes a text once: the same record again, until the memo is full', (t) => {
  const raw = encodeRecord('g', 'h', encodeRow({ id: 'once' }));
  const first = decodeRecord(raw);
  t.is(decodeRecord(raw), first, 'the same text: the record decoded before');
  t.is(decodeRecord([...raw].join('')), first, 'an equal text read again from a store (another string) too');
  for (let i = 0; i < TEXTS_KEPT; i++) decodeRecord(encodeRecord('g', 'h', encodeRow({ id: i })));
  t.not(decodeRecord(raw), first, 'after as many other texts as it keeps, the memo started again');
});

test('decodeRecord keeps no text longer than its limit, and at most its characters', (t) => {
  const long = encodeRecord('g', 'h', encodeRow({ body: 'x'.repeat(LONGEST_TEXT_KEPT) }));
  t.not(decodeRecord(long), decodeRecord(long), 'a long text is decoded every time');
  const small = encodeRecord('g', 'h', encodeRow({ id: 'small' }));
  const kept = decodeRecord(small);
  const big = LONGEST_TEXT_KEPT - 100;
  for (let i = 0; i <= CHARACTERS_KEPT / big; i++) decodeRecord(encodeRecord('g', 'h', encodeRow({ i, body: 'y'.repeat(big) })));
  t.not(decodeRecord(small), kept, 'the characters kept reached their bound: the memo started again');
});

test('a row parsed once is still handed out fresh: its values, its Dates, and a JSON __proto__ key', (t) => {
  const at = new Date('2021-05-06T07:08:09.010Z');
  const record = decodeRecord(encodeRecord('g', 'h', encodeRow({ id: 1, title: 'T', at, never: new Date(Number.NaN), note: null })))!;
  const a = decodeRow(record.row!);
  a['title'] = 'mutated';
  (a['at'] as Date).setUTCFullYear(1999);
  const b = decodeRow(decodeRecord(encodeRecord('g', 'h', encodeRow({ id: 1, title: 'T', at, never: new Date(Number.NaN), note: null })))!.row!);
  t.not(a, b);
  t.is(b['title'], 'T');
  t.is((b['at'] as Date).getTime(), at.getTime(), "a Date of one reader is not the next one's");
  t.true(Number.isNaN((b['never'] as Date).getTime()));
  t.is(b['note'], null);
  for (const json of ['{"__proto__":{"polluted":1},"id":2}', '{"__proto__":"plain","id":2}']) {
    const hostile = decodeRecord(encodeRecord('g', 'h', { json, tagged: false }))!;
    for (let i = 0; i < 2; i++) {
      const row = decodeRow(hostile.row!);
      t.is(Object.getPrototypeOf(row), Object.prototype, 'no prototype changes');
      t.deepEqual(Object.keys(row), ['__proto__', 'id']);
      t.is(({} as Record<string, unknown>)['polluted'], undefined);
    }
  }
});

test('a row holding objects is parsed for every reader: nothing nested is shared', (t) => {
  const raw = encodeRecord('g', 'h', encodeRow({ id: 1, meta: { a: 1 }, tags: ['x'] }));
  const a = decodeRow(decodeRecord(raw)!.row!);
  (a['meta'] as Record<string, unknown>)['a'] = 2;
  (a['tags'] as string[]).push('y');
  t.deepEqual(decodeRow(decodeRecord(raw)!.row!), { id: 1, meta: { a: 1 }, tags: ['x'] });
});
