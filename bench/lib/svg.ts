import type { Distribution } from './report.js';

const WIDTH = 960;
const LABEL_WIDTH = 330;
const VALUE_WIDTH = 150;
const ROW = 22;
const GROUP_GAP = 26;
const TOP = 44;
const BOTTOM = 40;
const FLOOR_MS = 0.01;

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const short = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

/**
 * A hand-drawn box plot per distribution, on a log scale of milliseconds: whisker p5..p99, box
 * p25..p75, a bar at the median, a dot at p99. Baselines are grey, subjects blue.
 */
export function latencyChart(distributions: readonly Distribution[]): string {
  const groups = new Map<string, Distribution[]>();
  for (const d of distributions) groups.set(d.group, [...(groups.get(d.group) ?? []), d]);
  const values = distributions
    .flatMap((d) => [d.stats.p5, d.stats.p99])
    .map((v) => Math.max(v, FLOOR_MS));
  const low = Math.floor(Math.log10(Math.min(...values, 1)));
  const high = Math.ceil(Math.log10(Math.max(...values, 1)));
  const plotLeft = LABEL_WIDTH;
  const plotRight = WIDTH - VALUE_WIDTH;
  const x = (ms: number) =>
    plotLeft + ((Math.log10(Math.max(ms, FLOOR_MS)) - low) / (high - low)) * (plotRight - plotLeft);
  const height = TOP + groups.size * GROUP_GAP + distributions.length * ROW + BOTTOM;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="bold">Latency distributions (ms, log scale): whisker p5-p99, box p25-p75, bar median, dot p99</text>`,
    `<text x="12" y="36" fill="#555">blue: nest-plugin-host; grey: the baseline measured in the same run. Right: p50 / p99.</text>`,
  ];
  for (let decade = low; decade <= high; decade++) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** decade;
      if (Math.log10(value) > high + 1e-9) continue;
      const px = x(value).toFixed(1);
      const major = step === 1;
      out.push(
        `<line x1="${px}" y1="${TOP}" x2="${px}" y2="${height - BOTTOM + 4}" stroke="${major ? '#ccc' : '#eee'}"/>`,
      );
      if (major || high - low <= 3) {
        out.push(
          `<text x="${px}" y="${height - BOTTOM + 18}" text-anchor="middle" fill="#555">${value >= 1 ? value : value.toPrecision(1)}</text>`,
        );
      }
    }
  }
  out.push(
    `<text x="${(plotLeft + plotRight) / 2}" y="${height - 8}" text-anchor="middle" fill="#555">milliseconds</text>`,
  );

  let y = TOP;
  for (const [group, rows] of groups) {
    y += GROUP_GAP;
    out.push(`<text x="12" y="${y - 8}" font-weight="bold">${escape(group)}</text>`);
    for (const d of rows) {
      const mid = y + ROW / 2;
      const color = d.baseline ? '#8c8c8c' : '#2b6cb0';
      const fill = d.baseline ? '#e2e2e2' : '#bee3f8';
      const s = d.stats;
      out.push(
        `<text x="24" y="${mid + 4}">${escape(d.label)}</text>`,
        `<line x1="${x(s.p5).toFixed(1)}" y1="${mid}" x2="${x(s.p99).toFixed(1)}" y2="${mid}" stroke="${color}"/>`,
        `<rect x="${x(s.p25).toFixed(1)}" y="${mid - 6}" width="${Math.max(1, x(s.p75) - x(s.p25)).toFixed(1)}" height="12" fill="${fill}" stroke="${color}"/>`,
        `<line x1="${x(s.p50).toFixed(1)}" y1="${mid - 8}" x2="${x(s.p50).toFixed(1)}" y2="${mid + 8}" stroke="${color}" stroke-width="3"/>`,
        `<circle cx="${x(s.p99).toFixed(1)}" cy="${mid}" r="3.5" fill="${color}"/>`,
        `<text x="${plotRight + 12}" y="${mid + 4}" fill="#333">${short(s.p50)} / ${short(s.p99)}</text>`,
      );
      y += ROW;
    }
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
