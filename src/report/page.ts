/**
 * One self-contained HTML page of Vega-Lite charts: Vega and Vega-Lite are inlined from their packages (the page
 * works offline, from a file), the charts' specifications and data travel as JSON in the page, and a small script
 * renders them with Vega's own SVG renderer. A live page (the dashboard) also listens to server-sent events that
 * add points to its charts or replace their data. Text that comes from runs is escaped.
 *
 * The page exposes window.gossamer = { views: { [chart id]: vega.View }, ready: boolean } for tests and scripts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** A chart on a page: its Vega-Lite specification (reading the data set "points") and its first points. */
export interface PageChart {
  id: string;
  spec: object;
  values: readonly object[];
}

export interface PageInit {
  title: string;
  /** Escaped HTML before the charts (a heading, a description). */
  intro: string;
  charts: readonly PageChart[];
  /** Escaped HTML after the charts (tables). */
  outro?: string;
  /** Server-sent events at this path update the charts. */
  live?: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML content or attributes. */
export const escapeHtml = (text: unknown): string => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** JSON safe inside a <script> element (no "</script>", no "<!--"). */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

let libraries: string | null = null;

/** Vega and Vega-Lite's browser builds, read once from their packages. */
function chartLibraries(): string {
  if (libraries === null) {
    const require = createRequire(import.meta.url);
    const build = (schema: string) => dirname(require.resolve(schema));
    const vega = readFileSync(join(build('vega/vega-schema.json'), 'vega.min.js'), 'utf8');
    const vegaLite = readFileSync(join(build('vega-lite/vega-lite-schema.json'), 'vega-lite.min.js'), 'utf8');
    libraries = [vega, vegaLite].map((js) => `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`).join('\n');
  }
  return libraries;
}

/** The script that draws the charts and, on a live page, applies the server's updates. */
const CLIENT = String.raw`
(function () {
  var state = { views: {}, ready: false, updates: 0 };
  window.gossamer = state;
  var charts = JSON.parse(document.getElementById('gossamer-charts').textContent);
  var live = document.body.getAttribute('data-live');
  var pending = [];
  function apply(message) {
    if (message.status !== undefined) {
      var status = document.getElementById('status');
      if (status) status.textContent = message.status;
    }
    var view = state.views[message.chart];
    if (!view) return;
    if (message.replace) view.data('points', message.replace);
    else if (message.insert) view.insert('points', message.insert);
    view.runAsync();
    state.updates++;
  }
  Promise.all(charts.map(function (chart) {
    // Resized on every update: live data changes the axes' labels and the legends.
    var spec = vegaLite.compile(Object.assign({ datasets: { points: chart.values }, autosize: { type: 'pad', resize: true } }, chart.spec)).spec;
    var view = new vega.View(vega.parse(spec), { renderer: 'svg', container: '#chart-' + chart.id, hover: true });
    state.views[chart.id] = view;
    return view.runAsync();
  })).then(function () {
    state.ready = true;
    pending.forEach(apply);
    pending = [];
  });
  if (live) {
    var source = new EventSource(live);
    source.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (state.ready) apply(message); else pending.push(message);
    };
    source.addEventListener('end', function (event) {
      apply(JSON.parse(event.data));
      source.close();
    });
  }
})();
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.5em 0 .5em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { border: 1px solid #ddd; border-radius: 4px; padding: .5em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
tr.differs td, tr.differs th { background: #fff3c4; }
td.missing { color: #999; }
#status { color: #555; }
.note { color: #555; }
`;

/** The whole page. */
export function chartPage(init: PageInit): string {
  const charts = init.charts.map((c) => ({ id: c.id, spec: c.spec, values: c.values }));
  const divs = init.charts.map((c) => `<div class="chart" id="chart-${escapeHtml(c.id)}"></div>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>${escapeHtml(init.title)}</title>
<style>${STYLE}</style>
${chartLibraries()}
</head>
<body${init.live ? ` data-live="${escapeHtml(init.live)}"` : ''}>
${init.intro}
<div class="charts">
${divs}
</div>
${init.outro ?? ''}
<script type="application/json" id="gossamer-charts">${scriptJson(charts)}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
