/**
 * `npm run bench [-- name ...]`: runs each benchmark in its own `node` process (so none disturbs
 * another's heap or JIT), then writes `bench/RESULTS.md` and `bench/latency.svg` and prints the tables.
 * Given names, runs only those and keeps the other sections of the previous RESULTS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable, textTables, type BenchReport } from './lib/report.js';
import { latencyChart } from './lib/svg.js';

const BENCHES = ['dispatch', 'http', 'boot', 'scale', 'propagation'] as const;
type BenchName = (typeof BENCHES)[number];

const HERE = fileURLToPath(new URL('.', import.meta.url));
// Compiled to dist-bench/bench/ (bench shares helpers with test/src/).
const ROOT = join(HERE, '..', '..');
const RESULTS = join(ROOT, 'bench', 'RESULTS.md');
/** Hand-kept log of the misses that were profiled and fixed, with before/after: copied in. */
const FIXES = join(ROOT, 'bench', 'FIXES.md');
const CHART = join(ROOT, 'bench', 'latency.svg');
const DATA_MARK = 'bench-data:';
const CHILD_TIMEOUT_MS = 5 * 60_000;

interface Run {
  report: BenchReport;
  /** 1-minute load average before and after: this machine is shared, and this says how much. */
  load: [number, number];
  at: string;
}

interface Environment {
  machine: string;
  node: string;
  commit: string;
  date: string;
}

function parseArgs(): BenchName[] {
  const names = process.argv.slice(2);
  for (const name of names) {
    if (!BENCHES.includes(name as BenchName)) {
      console.error(`Unknown benchmark "${name}". Known: ${BENCHES.join(', ')}.`);
      process.exit(2);
    }
  }
  return names.length ? (names as BenchName[]) : [...BENCHES];
}

function runChild(name: BenchName, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(HERE, `${name}.bench.js`)], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, BENCH_REPORT: out },
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${name} did not finish in ${CHILD_TIMEOUT_MS / 60_000} minutes`));
    }, CHILD_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${name} exited with ${signal ?? code}`));
    });
  });
}

/** Waits (up to 2 minutes) for `dist/` to exist, e.g. while another `npm run build` rewrites it. */
async function libraryBuilt(): Promise<void> {
  const entry = join(ROOT, 'dist', 'index.js');
  for (let waited = 0; !existsSync(entry); waited += 1000) {
    if (waited >= 120_000) throw new Error('dist/index.js is missing: run `npm run build`');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** One retry: a bench that failed because the library was being rebuilt under it gets a second go. */
async function runWithRetry(name: BenchName, out: string): Promise<void> {
  await libraryBuilt();
  try {
    await runChild(name, out);
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}; running it once more.`);
    await libraryBuilt();
    await runChild(name, out);
  }
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function environment(): Environment {
  const cpu = cpus();
  const dirty = git('status', '--porcelain', '--', 'lib') ? ' (lib/ with uncommitted changes)' : '';
  return {
    machine: `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    commit: `${git('rev-parse', '--short', 'HEAD') || 'unknown'}${dirty}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** Runs kept from the previous RESULTS.md, so a partial run does not erase the other sections. */
function previousRuns(): Map<string, Run> {
  if (!existsSync(RESULTS)) return new Map();
  const match = new RegExp(`<!-- ${DATA_MARK}(\\S+) -->`).exec(readFileSync(RESULTS, 'utf8'));
  if (!match) return new Map();
  try {
    const runs = JSON.parse(Buffer.from(match[1], 'base64').toString('utf8')) as Run[];
    return new Map(runs.map((run) => [run.report.name, run]));
  } catch {
    return new Map();
  }
}

function render(runs: Run[], env: Environment, seconds: number, subset: boolean): string {
  const targets = runs.flatMap((run) => run.report.targets);
  const lines: string[] = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\`${subset ? ' (this run covered part of the benchmarks; each section says when it ran)' : ''}, ${env.date}, commit ${env.commit}.`,
    `Machine: ${env.machine}; Node ${env.node}. The benchmark scripts took ${Math.round(seconds)} s (see each section for its own time).`,
    '',
    'Every figure that judges the library is a ratio against a baseline measured in the same run, on the same machine, in interleaved rounds (medians reported): this machine is shared and noisy, so absolute times mean little. Each section gives its settings and the 1-minute load average before and after it ran. Rerun with `npm run bench`, or a part with `npm run bench -- dispatch propagation`.',
    '',
    '## Targets (issue 8)',
    '',
    markdownTable({
      title: '',
      columns: ['Target', 'Goal', 'Measured', 'Met'],
      rows: targets.map((t) => [t.what, t.goal, t.measured, t.met ? 'yes' : '**no**']),
    }),
    '',
    ...fixesSection(),
    '## Latency distributions',
    '',
    '![Latency distributions: HTTP, read routes with 10,000 plugins, propagation](latency.svg)',
    '',
    'Log scale of milliseconds; whiskers p5 to p99, boxes p25 to p75, bar at the median, dot at p99. Blue: the library; grey: the baseline of the same run.',
  ];
  runs.forEach(({ report, load, at }, index) => {
    lines.push('', `## ${index + 1}. ${report.title}`, '');
    lines.push(
      `Ran ${at} in ${Math.round(report.seconds)} s; load average ${load[0].toFixed(2)} before, ${load[1].toFixed(2)} after.`,
      '',
    );
    for (const setting of report.settings) lines.push(`- ${setting}`);
    for (const table of report.tables)
      lines.push('', `**${table.title}**`, '', markdownTable(table));
    if (report.notes.length) lines.push('');
    for (const note of report.notes) lines.push(`- ${note}`);
  });
  const data = Buffer.from(JSON.stringify(runs)).toString('base64');
  lines.push('', `<!-- ${DATA_MARK}${data} -->`, '');
  return lines.join('\n');
}

/** bench/FIXES.md under its own heading (its first heading dropped), or nothing. */
function fixesSection(): string[] {
  if (!existsSync(FIXES)) return [];
  const text = readFileSync(FIXES, 'utf8')
    .replace(/^# .*\n/, '')
    .trim();
  return ['## Profiled and fixed (before -> after)', '', text, ''];
}

async function formatMarkdown(markdown: string): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(RESULTS)) ?? {};
  return prettier.format(markdown, { ...options, filepath: RESULTS });
}

async function main(): Promise<void> {
  const names = parseArgs();
  const started = performance.now();
  const env = environment();
  const runs = previousRuns();
  const dir = mkdtempSync(join(tmpdir(), 'nph-bench-'));
  const failed: string[] = [];
  try {
    for (const name of names) {
      console.log(`\n== ${name} ==`);
      const out = join(dir, `${name}.json`);
      const before = loadavg()[0];
      const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      try {
        await runWithRetry(name, out);
        const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
        runs.set(name, { report, load: [before, loadavg()[0]], at });
        console.log(textTables(report));
      } catch (error) {
        failed.push(name);
        console.error(`${name} failed: ${(error as Error).message}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const ordered = BENCHES.filter((name) => runs.has(name)).map((name) => runs.get(name)!);
  const subset = ordered.length > names.length;
  writeFileSync(RESULTS, await formatMarkdown(render(ordered, env, seconds, subset)));
  writeFileSync(CHART, latencyChart(ordered.flatMap((run) => run.report.distributions)));

  console.log('\n== targets ==');
  for (const target of ordered.flatMap((run) => run.report.targets)) {
    console.log(
      `${target.met ? 'met   ' : 'MISSED'}  ${target.what}: ${target.measured} (goal ${target.goal})`,
    );
  }
  console.log(
    `\nWrote bench/RESULTS.md and bench/latency.svg; benchmarks took ${Math.round(seconds)} s.`,
  );
  if (failed.length) {
    console.error(`Failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
