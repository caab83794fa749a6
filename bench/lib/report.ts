import { writeFileSync } from 'node:fs';
import type { Percentiles } from './stats.js';

/** One table of a bench's results. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

/** A stated goal of issue 8 and whether this run met it. */
export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean;
}

/** A latency distribution drawn in `latency.svg`. */
export interface Distribution {
  /** Groups rows in the chart, e.g. `Propagation`. */
  group: string;
  label: string;
  /** Baselines are drawn in grey. */
  baseline: boolean;
  /** Milliseconds. */
  stats: Percentiles;
}

/** Everything one bench script hands back to `run.ts`. */
export interface BenchReport {
  name: string;
  title: string;
  /** What was run and how long: durations, counts, connections. */
  settings: string[];
  tables: Table[];
  targets: Target[];
  distributions: Distribution[];
  /** What grows with what, what a figure includes, anything a reader needs to judge it. */
  notes: string[];
  seconds: number;
}

export type BenchBody = Omit<BenchReport, 'name' | 'title' | 'seconds'>;

const markdownRow = (cells: string[]) =>
  `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;

const NUMERIC = /^(n\/a|[-+<>= ]*[\d.,]+ ?(x|ms|KB|%)?)$/;

/** Which columns hold figures only, and are right-aligned. */
function numericColumns(table: Table): boolean[] {
  return table.columns.map(
    (_, i) =>
      table.rows.length > 0 && table.rows.every((row) => !row[i] || NUMERIC.test(row[i].trim())),
  );
}

/** Renders one table as Markdown (`run.ts` pads it with Prettier). */
export function markdownTable(table: Table): string {
  const numeric = numericColumns(table);
  return [
    markdownRow(table.columns),
    markdownRow(numeric.map((right) => (right ? '--:' : '---'))),
    ...table.rows.map(markdownRow),
  ].join('\n');
}

/** Plain-text rendering for a bench run on its own. */
export function textTables(report: BenchReport): string {
  const out: string[] = [`# ${report.title}`];
  for (const table of report.tables) {
    const widths = table.columns.map((c, i) =>
      Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)),
    );
    const numeric = numericColumns(table);
    const line = (cells: string[]) =>
      cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    out.push('', table.title, line(table.columns), widths.map((w) => '-'.repeat(w)).join('  '));
    out.push(...table.rows.map(line));
  }
  for (const target of report.targets) {
    out.push(
      `${target.met ? 'MET   ' : 'MISSED'} ${target.what}: ${target.measured} (${target.goal})`,
    );
  }
  return out.join('\n');
}

/**
 * Runs a bench script's body, then writes its report where `run.ts` asked (`BENCH_REPORT`) or prints
 * it, and exits: a bench must stop by itself even if a driver left a socket open.
 */
export function runBench(name: string, title: string, body: () => Promise<BenchBody>): void {
  const started = performance.now();
  const guard = setTimeout(() => {
    console.error(`${name}: still running after 4 minutes; giving up.`);
    process.exit(2);
  }, 4 * 60_000);
  guard.unref();
  body().then(
    (result) => {
      const report: BenchReport = {
        name,
        title,
        ...result,
        seconds: (performance.now() - started) / 1000,
      };
      const target = process.env.BENCH_REPORT;
      if (target) writeFileSync(target, JSON.stringify(report));
      else console.log(textTables(report));
      process.exit(0);
    },
    (error: unknown) => {
      console.error(`${name} failed:`, error);
      process.exit(1);
    },
  );
}

/** Progress lines go to stderr, so a report on stdout stays clean. */
export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}
