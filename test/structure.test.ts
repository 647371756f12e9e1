import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The shape of src/ (CONTRIBUTING.md): folders are layers and every import points down, so no import cycle can
 * form. Type-only imports count too: a type that has to come from above is a concept in the wrong layer.
 */
const SRC = resolve(import.meta.dirname, '../src');

/** Top to bottom. Folders on one line are siblings and do not import each other. */
const LAYERS: readonly (readonly string[])[] = [['index.ts'], ['model'], ['reads', 'invalidation'], ['config'], ['store'], ['driver'], ['core']];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** Every relative module a file imports or re-exports, as a path under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]!);
  return specs.filter((spec) => spec.startsWith('.')).map((spec) => relative(SRC, resolve(SRC, dirname(file), spec.replace(/\.js$/, '.ts'))));
}

function layerOf(file: string): { layer: number; folder: string } {
  const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : file;
  const layer = LAYERS.findIndex((names) => names.includes(folder));
  return { layer, folder };
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test('every file of src/ sits in a layer', (t) => {
  t.deepEqual(
    files.filter((file) => layerOf(file).layer < 0),
    [],
  );
});

test('imports in src/ point down the layers (or stay in their folder)', (t) => {
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    for (const target of imports) {
      const to = layerOf(target);
      if (to.folder === from.folder ? false : to.layer <= from.layer) upward.push(`${file} -> ${target}`);
    }
  }
  t.deepEqual(upward, []);
});

test('src/ has no import cycle', (t) => {
  t.deepEqual(cycles(graph), []);
});

test('the cycle finder finds a cycle', (t) => {
  const looped = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
  ]);
  t.deepEqual(cycles(looped), [['a.ts', 'b.ts', 'c.ts']]);
});

/** The strongly connected components of more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const target of edges.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (edges.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}
