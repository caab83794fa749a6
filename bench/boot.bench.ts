/**
 * Boot: start-up of an app with 1,000 capabilities on 100 providers against the same app without the
 * decorators. Each app boots in a process of its own (so no app's boots shape the JIT feedback the
 * other's run on), many times in a row (warm JIT, as a test suite's would be, so module import time
 * does not drown the difference); the processes alternate between the apps.
 *
 * The same boot takes anywhere from 7 to 50 ms on this machine, with no GC inside it (checked with
 * `--trace-gc`): interference, not work. It only ever adds time, so the target is read on each app's
 * quiet boots (the 10th percentile of its boot times), and the median is shown beside it.
 */
import { Injectable, Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Capability, HostedPlugin, PluginHostModule, PluginHostService } from 'nest-plugin-host';
import { progress, runBench, type Table, type Target } from './lib/report.js';
import { fmt, median, ms, percentile, ratio, ratioAgainst, rotate } from './lib/stats.js';

const PROVIDERS = 100;
const METHODS = 10;
/** Processes per app. */
const ROUNDS = 8;
/** Untimed boots at the start of each process. */
const WARMUP = 15;
/** Timed boots per process. */
const PER_PROCESS = 25;
/** The percentile that stands for a quiet boot. */
const QUIET = 10;
const TARGET = 1.2;

/** `PROVIDERS` classes with `METHODS` async methods each, decorated or not. */
function makeProviders(decorated: boolean): Type[] {
  const providers: Type[] = [];
  for (let i = 0; i < PROVIDERS; i++) {
    const provider = class {};
    Object.defineProperty(provider, 'name', { value: `Provider${i}` });
    for (let j = 0; j < METHODS; j++) {
      const name = `op${j}`;
      Object.defineProperty(provider.prototype, name, {
        value: async function (input: unknown) {
          return input;
        },
        writable: true,
        configurable: true,
      });
      if (decorated) {
        const descriptor = Object.getOwnPropertyDescriptor(provider.prototype, name)!;
        Capability(`plugin-${i}.op-${j}`)(provider.prototype, name, descriptor);
      }
    }
    Injectable()(provider);
    if (decorated) HostedPlugin({ slug: `plugin-${i}`, labelEn: `Plugin ${i}` })(provider);
    providers.push(provider);
  }
  return providers;
}

const decorated = makeProviders(true);
const plain = makeProviders(false);

const VARIANTS = {
  'with decorators (1,000 capabilities)': () => [
    PluginHostModule.forRoot({ store: 'memory', allowAnonymous: true }),
  ],
  'without decorators (baseline)': () => [
    PluginHostModule.forRoot({ store: 'memory', allowAnonymous: true }),
  ],
  'without PluginHostModule': () => [],
} satisfies Record<string, () => DynamicModule[]>;
type Variant = keyof typeof VARIANTS;
const SUBJECT: Variant = 'with decorators (1,000 capabilities)';
const BASELINE: Variant = 'without decorators (baseline)';

/** One full boot (`NestFactory.create` + `init`, no listen), timed; the app is closed afterwards. */
async function boot(variant: Variant): Promise<number> {
  const providers = variant === SUBJECT ? decorated : plain;
  const imports = VARIANTS[variant]();
  const root = class BootModule {};
  Module({ imports, providers })(root);
  globalThis.gc?.();
  const started = performance.now();
  const app = await NestFactory.create(root, { logger: false, abortOnError: false });
  await app.init();
  const elapsed = performance.now() - started;
  if (variant !== 'without PluginHostModule') {
    const capabilities = app.get(PluginHostService).capabilities().length;
    const expected = variant === SUBJECT ? PROVIDERS * METHODS : 0;
    if (capabilities !== expected) throw new Error(`${variant}: ${capabilities} capabilities`);
  }
  await app.close();
  return elapsed;
}

/** In a child process: boots one app `WARMUP + PER_PROCESS` times and prints the timed ones. */
async function child(variant: Variant): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await boot(variant);
  const times: number[] = [];
  for (let i = 0; i < PER_PROCESS; i++) times.push(await boot(variant));
  process.stdout.write(JSON.stringify(times));
}

/** One child process's timed boots of `variant`. */
function boots(variant: Variant): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url)],
      { env: { ...process.env, BOOT_VARIANT: variant, BENCH_REPORT: '' } },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as number[])),
    );
  });
}

const CHILD = process.env.BOOT_VARIANT as Variant | undefined;
if (CHILD) {
  child(CHILD).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  runBench('boot', 'Boot: 1,000 capabilities on 100 providers', async () => {
    const names = Object.keys(VARIANTS) as Variant[];
    const times = new Map<Variant, number[]>(names.map((n) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of rotate(names, round)) times.get(name)!.push(...(await boots(name)));
      const quiet = (name: Variant) => percentile(times.get(name)!, QUIET);
      progress(`round ${round + 1}/${ROUNDS}: ${ratio(quiet(SUBJECT) / quiet(BASELINE))}`);
    }
    const quiet = (name: Variant) => percentile(times.get(name)!, QUIET);
    const middle = (name: Variant) => median(times.get(name)!);
    const measured = quiet(SUBJECT) / quiet(BASELINE);
    const table: Table = {
      title: `${PROVIDERS} providers x ${METHODS} methods; NestFactory.create + app.init (no listen); ${ROUNDS} processes per app, ${PER_PROCESS} timed boots each`,
      columns: [
        'App',
        `quiet boot ms (p${QUIET})`,
        'vs baseline (quiet)',
        'median boot ms',
        'vs baseline (median)',
      ],
      rows: names.map((name) => [
        name,
        ms(quiet(name)),
        ratio(quiet(name) / quiet(BASELINE)),
        ms(middle(name)),
        ratio(middle(name) / middle(BASELINE)),
      ]),
    };
    const extra = quiet(SUBJECT) - quiet(BASELINE);
    const target: Target = {
      what: 'Boot: 1,000 capabilities vs same app without decorators',
      goal: `<= ${TARGET}x`,
      measured: `${ratioAgainst(measured, TARGET)} (median boots: ${ratio(middle(SUBJECT) / middle(BASELINE))})`,
      met: measured <= TARGET,
    };
    return {
      settings: [
        `each app boots in processes of its own: ${ROUNDS} processes per app, started in turn (app order rotated every round), each booting its app ${WARMUP} times untimed and then ${PER_PROCESS} times timed; a GC before each boot (--expose-gc)`,
        'memory store, REST controller mounted; the JIT is warm and module import time is not counted',
      ],
      tables: [table],
      targets: [target],
      distributions: [],
      notes: [
        `The same app's boots range from ${ms(Math.min(...times.get(BASELINE)!))} to ${ms(Math.max(...times.get(BASELINE)!))} ms in this run, with no garbage collection inside a boot (checked with \`--trace-gc\`): the spread is interference from the machine, and it only adds time. So the target is read on quiet boots, each app's ${QUIET}th percentile; the median boots are shown too. (The earlier estimator, all three apps in one process and the median of per-round ratios, gave anything from 1.11x to 1.36x on the same code.)`,
        `Discovery and registration of 1,000 capabilities and 100 plugin records cost about ${ms(extra)} ms on a quiet boot (${fmt((extra * 1000) / (PROVIDERS * METHODS), 1)} µs per capability): it grows linearly with the number of decorated methods, and with the number of providers and controllers scanned.`,
      ],
    };
  });
}
