import test from 'ava';

import {
  assertKeyValue,
  assertPrefix,
  canonicalKey,
  encodeKeyPart,
  entryKeys,
  generationKey,
  generationKeyOf,
  hashTagOf,
  isCacheableMiss,
  lookupKeys,
  isGenerationKey,
  makeKeySpace,
  queryKey,
  rowKeyValue,
  STORE_CHECK_KEY,
  tableKeys,
  tableTag,
  tableTokenKey,
  tableTokenKeyIn,
  tagOf,
  tokenKeysOf,
  valueKey,
} from '../../../src/core/keys.js';

/** `#` then a base64url sha256 (43 characters). */
const HASHED = /^#[A-Za-z0-9_-]{43}$/;

const space = makeKeySpace('Post', 'oc', 'name:main', 'posts', 3);

test('makeKeySpace: tag is {prefix:scope-part:table}, base adds the cache version and the class name', (t) => {
  t.deepEqual(space, { modelName: 'Post', scope: 'name:main', tag: '{oc:=main:posts}', base: '{oc:=main:posts}:v3:=Post' });
});

test('makeKeySpace: the cache version is URI-encoded and an unreadable class name is hashed', (t) => {
  const odd = makeKeySpace('My Model', 'oc', 'name:main', 'posts', 'a b/c');
  t.true(odd.base.startsWith('{oc:=main:posts}:va%20b%2Fc:#'), odd.base);
  t.regex(odd.base.slice('{oc:=main:posts}:va%20b%2Fc:'.length), HASHED);
});

test('makeKeySpace rejects a prefix holding a brace, naming the model', (t) => {
  const error = t.throws(() => makeKeySpace('Post', 'o{c', 'name:main', 'posts', 1), { instanceOf: TypeError });
  t.regex(error.message, /^Post: cache prefix "o\{c"/);
});

test('entryKeys: value key and guard key of a readable value', (t) => {
  const keys = entryKeys(space, 'id', 42);
  t.is(keys.value, '{oc:=main:posts}:v3:=Post:k:id:=42');
  t.is(keys.guard, '{oc:=main:posts}:g:id:=42');
  t.is(keys.canonical, '42');
  t.true(keys.missCacheable);
});

test('entryKeys: the guard key leaves out the cache version and the class name, the value key does not', (t) => {
  const other = makeKeySpace('Draft', 'oc', 'name:main', 'posts', 'v9');
  const a = entryKeys(space, 'slug', 'hello');
  const b = entryKeys(other, 'slug', 'hello');
  t.is(a.guard, b.guard);
  t.not(a.value, b.value);
  t.is(b.value, '{oc:=main:posts}:vv9:=Draft:k:slug:=hello');
  const nextVersion = entryKeys(makeKeySpace('Post', 'oc', 'name:main', 'posts', 4), 'slug', 'hello');
  t.is(nextVersion.guard, a.guard);
  t.not(nextVersion.value, a.value);
});

test('entryKeys: the column is URI-encoded, unreadable values are hashed with #', (t) => {
  const keys = entryKeys(space, 'a b', 'x:y');
  t.true(keys.value.startsWith('{oc:=main:posts}:v3:=Post:k:a%20b:#'), keys.value);
  t.regex(keys.value.slice(keys.value.lastIndexOf(':') + 1), HASHED);
  t.true(keys.guard.startsWith('{oc:=main:posts}:g:a%20b:#'), keys.guard);
});

test('entryKeys: readable (=) and hashed (#) parts never collide', (t) => {
  t.is(encodeKeyPart('abc'), '=abc');
  t.is(encodeKeyPart('A-Z_0.9'), '=A-Z_0.9');
  t.is(encodeKeyPart('x'.repeat(64)), `=${'x'.repeat(64)}`);
  t.regex(encodeKeyPart('x'.repeat(65)), HASHED);
  for (const text of ['', 'a b', 'a:b', 'a*', 'é', '#abc', '=abc', '{x}']) t.regex(encodeKeyPart(text), HASHED, text);
  // A value spelled like a hashed part is itself hashed, so it cannot take another value's key.
  const hashed = encodeKeyPart('a b');
  t.not(encodeKeyPart(hashed), hashed);
  t.not(encodeKeyPart('a b'), encodeKeyPart('a  b'));
  t.is(encodeKeyPart('a b'), encodeKeyPart('a b'));
});

test('canonicalKey: 1, 1n and "1" share one spelling, and one entry', (t) => {
  t.is(canonicalKey(1), '1');
  t.is(canonicalKey(1n), '1');
  t.is(canonicalKey('1'), '1');
  t.is(canonicalKey(12345678901234567890n), '12345678901234567890');
  const keys = [entryKeys(space, 'id', 1), entryKeys(space, 'id', 1n), entryKeys(space, 'id', '1')];
  t.is(new Set(keys.map((k) => k.value)).size, 1);
  t.is(new Set(keys.map((k) => k.guard)).size, 1);
  t.not(entryKeys(space, 'id', '01').value, keys[0]!.value);
});

test('isCacheableMiss: numbers and bigints are cacheable, and strings spelled as their canonical number', (t) => {
  t.true(isCacheableMiss(1));
  t.true(isCacheableMiss(1.5));
  t.true(isCacheableMiss(10n));
  for (const value of ['1', '-1', '0', '1.5', '', 'hello', 'post-1', 'a_b.c']) t.true(isCacheableMiss(value), value);
});

test('isCacheableMiss: other spellings of a number are not cacheable', (t) => {
  for (const value of ['01', '1.0', ' 1', '1 ', '1e3', '0x10', '+1', '-0']) t.false(isCacheableMiss(value), JSON.stringify(value));
});

test('isCacheableMiss: only the canonical lower-case uuid is cacheable', (t) => {
  const uuid = '123e4567-e89b-12d3-a456-426614174000';
  t.true(isCacheableMiss(uuid));
  t.false(isCacheableMiss(uuid.toUpperCase()));
  t.false(isCacheableMiss(`{${uuid}}`));
  t.false(isCacheableMiss(uuid.replaceAll('-', '')));
  t.false(isCacheableMiss(` ${uuid}`));
  t.false(entryKeys(space, 'uuid', uuid.toUpperCase()).missCacheable);
  t.true(entryKeys(space, 'uuid', uuid).missCacheable);
  t.false(entryKeys(space, 'id', '01').missCacheable);
});

test('assertKeyValue accepts strings, finite numbers and bigints', (t) => {
  for (const value of ['', 'slug', 0, -1.5, 2 ** 53, 10n]) t.notThrows(() => assertKeyValue('Post', 'id', value), String(value));
});

test('assertKeyValue: a TypeError naming model, column and what was given', (t) => {
  const cases: [unknown, string][] = [
    [null, 'null'],
    [undefined, 'undefined'],
    [true, 'boolean'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
    [{ id: 1 }, 'an object'],
    [[1], 'an array'],
    [new Date(0), 'a Date'],
    [Symbol('x'), 'symbol'],
  ];
  for (const [value, described] of cases) {
    const error = t.throws(() => assertKeyValue('Post', 'slug', value), { instanceOf: TypeError }, described);
    t.true(error.message.startsWith('Post.slug: a cache key must be'), error.message);
    t.true(error.message.endsWith(`got ${described}`), error.message);
  }
});

test('assertPrefix rejects { and }, and allows anything else', (t) => {
  t.throws(() => assertPrefix('Post', 'a{'), { instanceOf: TypeError, message: /Post.*"a\{"/ });
  t.throws(() => assertPrefix('Post', '}'), { instanceOf: TypeError });
  t.notThrows(() => assertPrefix('Post', 'oc'));
  t.notThrows(() => assertPrefix('Post', ''));
  t.notThrows(() => assertPrefix('Post', 'a:b c*'));
});

test('tableTag: a readable name: scope stays readable, any other scope is # and 12 characters of a hash', (t) => {
  t.is(tableTag('oc', 'name:foo', 'posts'), '{oc:=foo:posts}');
  const derived = tableTag('oc', 'db:[["dialect","sqlite"]]', 'posts');
  t.regex(derived, /^\{oc:#[A-Za-z0-9_-]{12}:posts\}$/);
  t.is(tableTag('oc', 'db:[["dialect","sqlite"]]', 'posts'), derived, 'stable');
  t.not(tableTag('oc', 'db:[["dialect","postgres"]]', 'posts'), derived);
  // a name that is not readable, or a name-like scope without the name: prefix, is hashed
  t.regex(tableTag('oc', 'name:my db', 'posts'), /^\{oc:#[A-Za-z0-9_-]{12}:posts\}$/);
  t.regex(tableTag('oc', 'foo', 'posts'), /^\{oc:#[A-Za-z0-9_-]{12}:posts\}$/);
  t.regex(tableTag('oc', `name:${'x'.repeat(65)}`, 'posts'), /^\{oc:#[A-Za-z0-9_-]{12}:posts\}$/);
  t.not(tableTag('oc', 'name:foo', 'posts'), tableTag('oc', 'foo', 'posts'));
});

test('tableTag: the table is URI-encoded, prefixes and tables keep tags apart', (t) => {
  t.is(tableTag('oc', 'name:a', 'app.posts'), '{oc:=a:app.posts}');
  t.is(tableTag('oc', 'name:a', 'my table'), '{oc:=a:my%20table}');
  t.not(tableTag('oc', 'name:a', 'posts'), tableTag('oc2', 'name:a', 'posts'));
  t.not(tableTag('oc', 'name:a', 'posts'), tableTag('oc', 'name:b', 'posts'));
});

test('tableTokenKey ends :tv, tableTokenKeyIn builds the tag first', (t) => {
  t.is(tableTokenKey('{oc:=a:posts}'), '{oc:=a:posts}:tv');
  t.is(tableTokenKeyIn('oc', 'name:a', 'posts'), '{oc:=a:posts}:tv');
});

test('generationKeyOf ends :gen, generationKey uses the space tag', (t) => {
  t.is(generationKeyOf('{oc:=a:posts}'), '{oc:=a:posts}:gen');
  t.is(generationKey(space), '{oc:=main:posts}:gen');
});

test('isGenerationKey: only a tagged key ending :gen', (t) => {
  t.true(isGenerationKey(generationKey(space)));
  t.false(isGenerationKey('oc:posts:gen'));
  t.false(isGenerationKey(tableTokenKey(space.tag)));
  t.false(isGenerationKey(entryKeys(space, 'id', 'gen').value));
  t.false(isGenerationKey(entryKeys(space, 'id', 1).guard));
});

test('tagOf: the leading {...} of a key, or empty', (t) => {
  t.is(tagOf(entryKeys(space, 'id', 1).value), '{oc:=main:posts}');
  t.is(tagOf(entryKeys(space, 'id', 1).guard), '{oc:=main:posts}');
  t.is(tagOf('{oc:=main:posts}:gen'), '{oc:=main:posts}');
  t.is(tagOf('plain'), '');
  t.is(tagOf('keyv:{oc:=main:posts}:gen'), '', 'a brace that does not lead');
  t.is(tagOf('{unclosed'), '');
});

test('hashTagOf: what Redis Cluster hashes, behind a Keyv prefix too', (t) => {
  t.is(hashTagOf('keyv::keyv:{oc:=main:posts}:v3:=Post:k:id:=1'), 'oc:=main:posts');
  t.is(hashTagOf('{oc:=main:posts}:gen'), 'oc:=main:posts');
  t.is(hashTagOf('plain'), 'plain');
  t.is(hashTagOf('a{b'), 'a{b', 'no closing brace: the whole key');
  t.is(hashTagOf('a}b{c'), 'a}b{c', 'a closing brace only before the opening one');
  t.is(hashTagOf('x{a}{b}'), 'a', 'the first pair');
  t.is(hashTagOf('x{a{b}c'), 'a{b', 'up to the first closing brace after the first opening one');
});

test('hashTagOf: an empty {} hashes the whole key (Redis Cluster rule), not the empty string', (t) => {
  // Redis hashes the whole key when the first `{` is directly followed by `}`: redis-unlink.ts must not group
  // such keys (e.g. under a Keyv namespace holding "{}") into one UNLINK, they live in different slots.
  t.is(hashTagOf('ns{}:a'), 'ns{}:a');
  t.is(hashTagOf('ns{}{oc:=a:posts}:gen'), 'ns{}{oc:=a:posts}:gen', 'only the first { counts');
  t.is(hashTagOf('ns{oc'), 'ns{oc', 'no closing brace');
});

test('tokenKeysOf: the generation and the table token of a tag', (t) => {
  t.deepEqual(tokenKeysOf('{oc:=a:posts}'), ['{oc:=a:posts}:gen', '{oc:=a:posts}:tv']);
});

test('tableKeys: every token of every table, in order', (t) => {
  t.deepEqual(tableKeys('oc', 'name:a', ['posts', 'users']), ['{oc:=a:posts}:gen', '{oc:=a:posts}:tv', '{oc:=a:users}:gen', '{oc:=a:users}:tv']);
  t.deepEqual(tableKeys('oc', 'name:a', []), []);
});

test('valueKey: under the tag, :c: and the encoded key', (t) => {
  t.is(valueKey('{oc:=a:posts}', 'home-page'), '{oc:=a:posts}:c:=home-page');
  const hashed = valueKey('{oc:=a:posts}', 'home page');
  t.true(hashed.startsWith('{oc:=a:posts}:c:#'));
  t.regex(hashed.slice('{oc:=a:posts}:c:'.length), HASHED);
});

test('queryKey: the space base, :q: and a hash of the text', (t) => {
  const key = queryKey(space, 'select * from posts');
  t.true(key.startsWith('{oc:=main:posts}:v3:=Post:q:#'), key);
  t.regex(key.slice('{oc:=main:posts}:v3:=Post:q:'.length), HASHED);
  t.is(queryKey(space, 'select * from posts'), key);
  t.not(queryKey(space, 'select * from posts '), key);
  t.not(queryKey(makeKeySpace('Post', 'oc', 'name:main', 'posts', 4), 'select * from posts'), key);
});

test('rowKeyValue: strings, finite numbers and bigints; undefined for the rest', (t) => {
  t.is(rowKeyValue('a'), 'a');
  t.is(rowKeyValue(''), '');
  t.is(rowKeyValue(7), 7);
  t.is(rowKeyValue(7n), 7n);
  for (const value of [null, undefined, true, Number.NaN, Number.POSITIVE_INFINITY, new Date(0), {}, [], Buffer.from('a')]) {
    t.is(rowKeyValue(value), undefined, String(value));
  }
});

test('STORE_CHECK_KEY carries no hash tag', (t) => {
  t.is(tagOf(STORE_CHECK_KEY), '');
  t.false(isGenerationKey(STORE_CHECK_KEY));
});

test('lookupKeys: the same keys as entryKeys, the same objects for a value looked up again, per column and space', (t) => {
  const space = makeKeySpace('Post', 'oc', 'name:app', 'posts', 1);
  const other = makeKeySpace('Post', 'oc', 'name:other', 'posts', 1);
  const first = lookupKeys(space, 'slug', 'hello');
  t.deepEqual(first, entryKeys(space, 'slug', 'hello'));
  t.is(lookupKeys(space, 'slug', 'hello'), first, 'remembered: no new strings for a hot key');
  t.not(lookupKeys(space, 'name', 'hello'), first);
  t.not(lookupKeys(other, 'slug', 'hello'), first);
  t.deepEqual(lookupKeys(space, 'id', 1).value, entryKeys(space, 'id', '1').value, '1 and "1" share an entry');
  t.false(lookupKeys(space, 'id', '01').missCacheable, 'each spelling keeps its own missCacheable');
});

test('lookupKeys: at most 4,096 values per column are remembered; past that they are forgotten, and still right', (t) => {
  const space = makeKeySpace('Post', 'oc', 'name:bound', 'posts', 1);
  const first = lookupKeys(space, 'slug', 'k0');
  for (let i = 1; i <= 4_096; i++) lookupKeys(space, 'slug', `k${i}`);
  const again = lookupKeys(space, 'slug', 'k0');
  t.not(again, first, 'forgotten once the column passed its bound');
  t.deepEqual(again, first);
});
