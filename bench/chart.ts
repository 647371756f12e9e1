import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { Row } from './row.js';

/**
 * Latency per case and baseline, one panel per store: a bar to the median, a tick at p99, on a log scale shared
 * by both panels. Vega-Lite compiles the spec and Vega draws it to SVG in Node, with no browser.
 */
export async function renderChart(rows: readonly Row[]): Promise<string> {
  const values = rows.map((r) => ({
    panel: `${r.store} store, ${r.db}`,
    name: r.name,
    kind: r.kind === 'case' ? 'objection-cache' : 'baseline',
    p50: Math.max(r.p50, 1e-4),
    p99: Math.max(r.p99, 1e-4),
  }));
  const panel = (title: string) => ({
    title,
    width: 560,
    transform: [{ filter: { field: 'panel', equal: title } }],
    encoding: {
      y: { field: 'name', type: 'nominal', sort: null, title: null, axis: { labelLimit: 320 } },
    },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'p50', type: 'quantitative', scale: { type: 'log', domain: [0.001, 300] }, title: 'ms per operation (log scale): bar p50, tick p99' },
          // a log scale has no zero: bars start at the left edge of the domain
          x2: { datum: 0.001 },
          color: { field: 'kind', type: 'nominal', scale: { domain: ['objection-cache', 'baseline'], range: ['#2f6fdf', '#b8b8b8'] }, title: null },
        },
      },
      { mark: { type: 'tick', color: '#222', thickness: 2 }, encoding: { x: { field: 'p99', type: 'quantitative' } } },
    ],
  });
  const stores = [...new Set(values.map((v) => v.panel))];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    vconcat: stores.map(panel),
    config: { font: 'sans-serif' },
  } as vegaLite.TopLevelSpec;
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
