/**
 * Boot: start-up of an app with 1,000 capabilities on 100 providers against the same app without the
 * decorators. Boots repeat in one process (warm JIT, as in a test suite or a restart loop would not
 * be, but noise stays low); the variants alternate, and the median counts.
 */
import { Injectable, Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Capability, HostedPlugin, PluginHostModule, PluginHostService } from 'nest-plugin-host';
import { progress, runBench, type Table, type Target } from './lib/report.js';
import { fmt, median, ms, ratio, rotate } from './lib/stats.js';

const PROVIDERS = 100;
const METHODS = 10;
const WARMUP = 10;
const ROUNDS = 31;
/** Boots of each app per round, summed: single boots on a shared machine vary by ±30%. */
const PER_ROUND = 3;
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

runBench('boot', 'Boot: 1,000 capabilities on 100 providers', async () => {
  const names = Object.keys(VARIANTS) as Variant[];
  for (let i = 0; i < WARMUP; i++) for (const name of names) await boot(name);
  const times = new Map<Variant, number[]>(names.map((n) => [n, []]));
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of rotate(names, round)) {
      let total = 0;
      for (let i = 0; i < PER_ROUND; i++) total += await boot(name);
      times.get(name)!.push(total / PER_ROUND);
    }
    ratios.push(times.get(SUBJECT)!.at(-1)! / times.get(BASELINE)!.at(-1)!);
    if ((round + 1) % 5 === 0) progress(`round ${round + 1}/${ROUNDS}: ${ratio(ratios.at(-1)!)}`);
  }
  const measured = median(ratios);
  const table: Table = {
    title: `${PROVIDERS} providers x ${METHODS} methods; NestFactory.create + app.init (no listen); ${ROUNDS} interleaved rounds of ${PER_ROUND} boots per app`,
    columns: [
      'App',
      'boot ms (median)',
      'vs baseline (median of per-round ratios)',
      'middle half of the rounds',
    ],
    rows: names.map((name) => {
      const perRound = times.get(name)!.map((t, i) => t / times.get(BASELINE)![i]);
      const sorted = [...perRound].sort((a, b) => a - b);
      const quartile = (q: number) => sorted[Math.floor(q * (sorted.length - 1))];
      return [
        name,
        ms(median(times.get(name)!)),
        ratio(median(perRound)),
        name === BASELINE ? '' : `${ratio(quartile(0.25))} - ${ratio(quartile(0.75))}`,
      ];
    }),
  };
  const extra = median(times.get(SUBJECT)!) - median(times.get(BASELINE)!);
  const target: Target = {
    what: 'Boot: 1,000 capabilities vs same app without decorators',
    goal: `<= ${TARGET}x`,
    measured: ratio(measured),
    met: measured <= TARGET,
  };
  return {
    settings: [
      `${WARMUP} warm-up boots of each app, then ${ROUNDS} rounds of ${PER_ROUND} boots of each app (their mean is the round's time), app order rotated every round; a GC before each boot (--expose-gc)`,
      'memory store, REST controller mounted; all boots in one process, so the JIT is warm and module import time is not counted',
    ],
    tables: [table],
    targets: [target],
    distributions: [],
    notes: [
      `Discovery and registration of 1,000 capabilities and 100 plugin records cost about ${ms(extra)} ms (${fmt((extra * 1000) / (PROVIDERS * METHODS), 1)} µs per capability) at this size: it grows linearly with the number of decorated methods, and with the number of providers and controllers scanned.`,
    ],
  };
});
