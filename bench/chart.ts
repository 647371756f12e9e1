import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { Row } from './run.js';

/** Median latency per case and baseline (bars; p99 as a tick), one panel per store, as SVG drawn by Vega-Lite in Node. */
export async function renderChart(rows: readonly Row[]): Promise<string> {
  const values = rows.map((r) => ({ store: r.store, name: r.name, kind: r.kind === 'case' ? 'objection-cache' : 'baseline', p50: Math.max(r.p50, 1e-4), p99: Math.max(r.p99, 1e-4) }));
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Latency per operation (ms, log scale): bar = p50, tick = p99',
    data: { values },
    facet: { row: { field: 'store', type: 'nominal', title: null } },
    spec: {
      width: 520,
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'name', type: 'nominal', sort: null, title: null },
            x: { field: 'p50', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
            color: { field: 'kind', type: 'nominal', scale: { domain: ['objection-cache', 'baseline'], range: ['#2f6fdf', '#b0b0b0'] }, title: null },
          },
        },
        {
          mark: { type: 'tick', color: '#222', thickness: 2 },
          encoding: { y: { field: 'name', type: 'nominal', sort: null }, x: { field: 'p99', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'sans-serif' },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
