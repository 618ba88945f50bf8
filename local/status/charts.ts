/**
 * Charts as inline SVG strings: no scripts, no network, readable in any browser and in a
 * screenshot. Values arrive as plain numbers already converted for display (GB).
 */
export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  color: string;
  points: Point[];
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 12, top: 26, bottom: 28 };

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(
  kind: 'line' | 'bar',
  title: string,
  yMax: number,
  unit: string,
  body: string,
  xLabels: [string, string],
): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const y = PAD.top + (1 - f) * (H - PAD.top - PAD.bottom);
      const label = (yMax * f).toLocaleString('en-US', { maximumFractionDigits: 1 });
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" stroke="#e5e7eb"/><text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#6b7280">${label}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-${kind}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${ticks}<text x="8" y="14" font-size="11" fill="#6b7280">${esc(unit)}</text>${body}<text x="${PAD.left}" y="${H - 8}" font-size="11" fill="#6b7280">${esc(xLabels[0])}</text><text x="${W - PAD.right}" y="${H - 8}" font-size="11" text-anchor="end" fill="#6b7280">${esc(xLabels[1])}</text></svg>`;
}

/** Line chart of one or more series over a shared x range (e.g. time in ms). */
export function lineChart(
  title: string,
  unit: string,
  series: Series[],
  xLabels: [string, string],
): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return emptyChart(title);
  const xMin = Math.min(...all.map((p) => p.x));
  const xMax = Math.max(...all.map((p) => p.x));
  const yMax = niceMax(Math.max(...all.map((p) => p.y)));
  const sx = (x: number) =>
    PAD.left + (xMax === xMin ? 0.5 : (x - xMin) / (xMax - xMin)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => PAD.top + (1 - y / yMax) * (H - PAD.top - PAD.bottom);
  const body = series
    .map((s) => {
      const d = s.points
        .map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
        .join(' ');
      const dots =
        s.points.length === 1
          ? `<circle cx="${sx(s.points[0]?.x ?? 0)}" cy="${sy(s.points[0]?.y ?? 0)}" r="3" fill="${s.color}"/>`
          : '';
      return `<path class="series" data-series="${esc(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}`;
    })
    .join('');
  return frame('line', title, yMax, unit, body + legend(series), xLabels);
}

/** Bar chart of labelled values (e.g. GB per day); a null value keeps its slot empty. */
export function barChart(
  title: string,
  unit: string,
  bars: { label: string; value: number | null }[],
  color: string,
): string {
  const values = bars.flatMap((b) => (b.value === null ? [] : [b.value]));
  if (values.length === 0) return emptyChart(title);
  const yMax = niceMax(Math.max(...values));
  const slot = (W - PAD.left - PAD.right) / bars.length;
  const body = bars
    .map((b, i) => {
      if (b.value === null) return '';
      const h = (b.value / yMax) * (H - PAD.top - PAD.bottom);
      const x = PAD.left + i * slot + slot * 0.15;
      return `<rect class="bar" x="${x.toFixed(1)}" y="${(H - PAD.bottom - h).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(b.label)}: ${b.value.toFixed(1)} ${esc(unit)}</title></rect>`;
    })
    .join('');
  return frame('bar', title, yMax, unit, body, [
    bars[0]?.label ?? '',
    bars[bars.length - 1]?.label ?? '',
  ]);
}

/** Swatch and name per series, right-aligned along the top edge. */
function legend(series: Series[]): string {
  let x = W - PAD.right;
  return series
    .slice()
    .reverse()
    .map((s) => {
      const label = `<text x="${x}" y="14" text-anchor="end" font-size="11" fill="#374151">${esc(s.name)}</text>`;
      x -= s.name.length * 6.5 + 4;
      const swatch = `<rect x="${x - 12}" y="8" width="12" height="4" fill="${s.color}"/>`;
      x -= 24;
      return `<g class="legend">${swatch}${label}</g>`;
    })
    .join('');
}

function emptyChart(title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-empty" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><rect x="0" y="0" width="${W}" height="${H}" fill="#f9fafb"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="13" fill="#6b7280">No data yet</text></svg>`;
}
