/**
 * Scale: what grows with the number of plugins. GET /plugins and GET /dashboard at 100, 1,000 and
 * 10,000 plugins against a bare route returning the same list; heap per hosted plugin against the
 * same records in a plain Map; configure writes/s on PostgreSQL with two instances against a raw
 * UPDATE through the same TypeORM data source.
 */
import { Controller, Get, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  PluginHostModule,
  PluginHostService,
  type HostedPluginOptions,
  type Plugin,
  type PluginStore,
} from 'nest-plugin-host';
import type { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import { expectJson, listen } from './lib/apps.js';
import { QueryCounter } from '../test/src/query-counter.js';
import { createPostgresDatabase } from './lib/databases.js';
import { LoadGenerator, loopback, type LoadResult } from './lib/http-load.js';
import { progress, runBench, type Distribution, type Table, type Target } from './lib/report.js';
import { fmt, median, ms, ratio, rotate } from './lib/stats.js';

const SIZES = [100, 1_000, 10_000];
const ROUNDS = 3;
const ROUND_SECONDS = 1;
const MEMORY_COUNT = 10_000;
const WRITERS_PER_INSTANCE = 4;
const WRITE_ROUNDS = 3;
const WRITE_SECONDS = 1.5;

/** The record every scale test hosts: a few fields set, a small config, as an admin page would show. */
function pluginDefinition(i: number): HostedPluginOptions {
  return {
    slug: `plugin-${String(i).padStart(5, '0')}`,
    kind: i % 3 === 0 ? 'integration' : 'feature',
    nav: i % 2 === 0,
    sort: i,
    labelEn: `Plugin ${i}`,
    config: { limit: i, region: 'eu-west', tags: ['alpha', 'beta'] },
  };
}

// ------------------------------------------------------------------------------ list latency

@Controller('bare')
class BareListController {
  constructor(private readonly host: PluginHostService) {}

  @Get('plugins')
  list() {
    return this.host.list();
  }
}

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    PluginHostModule.forRoot({ store: 'memory', memoryLimit: 20_000, allowAnonymous: true }),
  ],
  controllers: [BareListController],
})
class ListModule {}

const LIST_ROUTES = {
  'GET /api/plugin-host/plugins': '/api/plugin-host/plugins',
  'GET /api/plugin-host/dashboard': '/api/plugin-host/dashboard',
  'GET /bare/plugins (baseline)': '/bare/plugins',
} as const;
type ListRoute = keyof typeof LIST_ROUTES;
const LIST_BASELINE: ListRoute = 'GET /bare/plugins (baseline)';

interface SizeResult {
  size: number;
  bytes: Map<ListRoute, number>;
  runs: Map<ListRoute, LoadResult[]>;
  ratios: Map<ListRoute, number[]>;
}

async function listLatency(load: LoadGenerator): Promise<SizeResult[]> {
  const { app, url } = await listen(ListModule);
  const host = app.get(PluginHostService);
  const results: SizeResult[] = [];
  try {
    let hosted = 0;
    for (const size of SIZES) {
      while (hosted < size) await host.register(pluginDefinition(hosted++));
      const bytes = new Map<ListRoute, number>();
      for (const [name, path] of Object.entries(LIST_ROUTES) as [ListRoute, string][]) {
        const body = await expectJson(`${url}${path}`);
        bytes.set(name, JSON.stringify(body).length);
      }
      const names = Object.keys(LIST_ROUTES) as ListRoute[];
      const runs = new Map<ListRoute, LoadResult[]>(names.map((n) => [n, []]));
      const ratios = new Map<ListRoute, number[]>(names.map((n) => [n, []]));
      for (const name of names) {
        await load.run({
          url: loopback(`${url}${LIST_ROUTES[name]}`),
          connections: 1,
          seconds: 0.5,
        });
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of rotate(names, round)) {
          const result = await load.run({
            url: loopback(`${url}${LIST_ROUTES[name]}`),
            connections: 1,
            seconds: ROUND_SECONDS,
          });
          if (result.failed > 0) throw new Error(`${name}: ${result.failed} failed requests`);
          runs.get(name)!.push(result);
        }
        const base = runs.get(LIST_BASELINE)!.at(-1)!.latency.p50;
        for (const name of names)
          ratios.get(name)!.push(runs.get(name)!.at(-1)!.latency.p50 / base);
      }
      results.push({ size, bytes, runs, ratios });
      progress(
        `${fmt(size)} plugins: /plugins p50 ${ms(median(runs.get('GET /api/plugin-host/plugins')!.map((r) => r.latency.p50)))} ms`,
      );
    }
  } finally {
    await app.close();
  }
  return results;
}

// ------------------------------------------------------------------------------ memory

/** A store that keeps nothing, so the heap delta is the host's own copy of each record. */
class NullStore implements PluginStore {
  readonly description = 'null (bench)';
  async all(): Promise<Plugin[]> {
    return [];
  }
  async get(): Promise<Plugin | null> {
    return null;
  }
  async upsert(plugin: Plugin): Promise<Plugin> {
    return plugin;
  }
  async insert(): Promise<boolean> {
    return true;
  }
  async write(): Promise<boolean> {
    return true;
  }
  async delete(): Promise<boolean> {
    return true;
  }
}

function heapUsed(): number {
  if (!globalThis.gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

async function hostBytesPerPlugin(store: 'memory' | PluginStore): Promise<number> {
  @Module({
    imports: [
      PluginHostModule.forRoot({ store, memoryLimit: 20_000, path: false, isGlobal: false }),
    ],
  })
  class MemoryModule {}
  const app: INestApplicationContext = await NestFactory.createApplicationContext(MemoryModule, {
    logger: false,
    abortOnError: false,
  });
  await app.init();
  const host = app.get(PluginHostService);
  const definitions = Array.from({ length: MEMORY_COUNT }, (_, i) => pluginDefinition(i));
  const before = heapUsed();
  for (const definition of definitions) await host.register(definition);
  const after = heapUsed();
  if (host.list().length !== MEMORY_COUNT) throw new Error('not every plugin was registered');
  await app.close();
  return (after - before) / MEMORY_COUNT;
}

/** The floor: the same records as plain objects in a Map, built the same way. */
function plainBytesPerRecord(): number {
  const definitions = Array.from({ length: MEMORY_COUNT }, (_, i) => pluginDefinition(i));
  const before = heapUsed();
  const map = new Map<string, Plugin>();
  for (const d of definitions) {
    const now = new Date();
    map.set(d.slug, {
      slug: d.slug,
      kind: d.kind ?? 'capability',
      enabled: true,
      config: JSON.parse(JSON.stringify(d.config)),
      nav: d.nav ?? false,
      sort: d.sort ?? 0,
      labelEn: d.labelEn ?? null,
      labelAr: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    } as Plugin);
  }
  const after = heapUsed();
  if (map.size !== MEMORY_COUNT) throw new Error('unreachable');
  return (after - before) / MEMORY_COUNT;
}

// ------------------------------------------------------------------------------ configure on PostgreSQL

/** `UPDATE plugins ...` -> `UPDATE`, `START TRANSACTION` -> `START TRANSACTION`. */
function statementKinds(queries: string[]): string {
  const kinds = queries.map((query) => {
    const words = query.trim().split(/\s+/);
    if (/pg_notify/i.test(query)) return 'SELECT pg_notify';
    return /^(START|BEGIN|SAVEPOINT)$/i.test(words[0]) ? words.slice(0, 2).join(' ') : words[0];
  });
  return kinds.length
    ? kinds.map((k) => k.toUpperCase().replace('PG_NOTIFY', 'pg_notify')).join(', ')
    : 'none';
}

interface WriteResult {
  name: string;
  perSecond: number[];
  ratios: number[];
}

async function configureThroughput(): Promise<{
  results: WriteResult[];
  sizeNote: string;
  statements: string;
}> {
  const db = await createPostgresDatabase();
  const apps: INestApplicationContext[] = [];
  const counters = [new QueryCounter(), new QueryCounter()];
  try {
    const writers = WRITERS_PER_INSTANCE * 2;
    const plugins = [
      ...Array.from({ length: writers }, (_, i) => ({ slug: `writer-${i}` })),
      ...Array.from({ length: writers }, (_, i) => ({ slug: `raw-${i}` })),
      { slug: 'shared' },
      { slug: 'raw-shared' },
    ];
    for (let i = 0; i < 2; i++) {
      @Module({
        imports: [
          TypeOrmModule.forRoot({
            ...db.options,
            autoLoadEntities: true,
            logger: counters[i],
          } as never),
          PluginHostModule.forRoot({
            path: false,
            isGlobal: false,
            syncIntervalMs: 0,
            syncChannel: `${db.name}_sync`,
            plugins,
          }),
        ],
      })
      class WriterModule {}
      const app = await NestFactory.createApplicationContext(WriterModule, {
        logger: false,
        abortOnError: false,
      });
      await app.init();
      apps.push(app);
    }
    const hosts = apps.map((app) => app.get(PluginHostService));
    const sources = apps.map((app) => app.get<DataSource>(getDataSourceToken()));

    // A worker writes to its own row ("distinct") or everyone writes to one row ("one row").
    const slugFor = (prefix: string, instance: number, worker: number, shared: boolean) =>
      shared ? `${prefix}shared` : `${prefix}${instance * WRITERS_PER_INSTANCE + worker}`;
    const variants = {
      'configure, distinct rows': (instance: number, worker: number, n: number) =>
        hosts[instance].configure(slugFor('writer-', instance, worker, false), { n }),
      'raw UPDATE, distinct rows (baseline)': (instance: number, worker: number, n: number) =>
        rawUpdate(sources[instance], slugFor('raw-', instance, worker, false), n),
      'configure, one row': (instance: number, _worker: number, n: number) =>
        hosts[instance].configure('shared', { n }),
      'raw UPDATE, one row (baseline)': (instance: number, _worker: number, n: number) =>
        rawUpdate(sources[instance], 'raw-shared', n),
    } as const;
    type Variant = keyof typeof variants;
    const pairs: Array<[Variant, Variant]> = [
      ['configure, distinct rows', 'raw UPDATE, distinct rows (baseline)'],
      ['configure, one row', 'raw UPDATE, one row (baseline)'],
    ];
    const rates = new Map<Variant, number[]>(
      (Object.keys(variants) as Variant[]).map((v) => [v, []]),
    );
    const run = async (variant: Variant, seconds: number) => {
      const deadline = performance.now() + seconds * 1000;
      let writes = 0;
      await Promise.all(
        [0, 1].flatMap((instance) =>
          Array.from({ length: WRITERS_PER_INSTANCE }, async (_, worker) => {
            while (performance.now() < deadline) {
              await variants[variant](instance, worker, writes);
              writes++;
            }
          }),
        ),
      );
      return writes / seconds;
    };
    for (const variant of Object.keys(variants) as Variant[]) await run(variant, 0.3);
    for (let round = 0; round < WRITE_ROUNDS; round++) {
      for (const [subject, baseline] of pairs) {
        for (const variant of rotate([subject, baseline], round)) {
          rates.get(variant)!.push(await run(variant, WRITE_SECONDS));
        }
      }
      progress(
        `configure round ${round + 1}/${WRITE_ROUNDS}: ${fmt(rates.get('configure, distinct rows')!.at(-1)!)} writes/s`,
      );
    }
    // Both instances must end up agreeing on every row the benchmark wrote.
    await waitUntil(() =>
      plugins
        .filter((p) => !p.slug.startsWith('raw'))
        .every((p) => hosts[0].get(p.slug).version === hosts[1].get(p.slug).version),
    );
    // One configure on A, alone: the statements each instance sends for it.
    for (const counter of counters) counter.queries = [];
    const probe = await hosts[0].configure('writer-0', { probe: true });
    await waitUntil(() => hosts[1].get('writer-0').version === probe.version);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const statements = `one configure sent ${counters[0].queries.length} statements from the writing instance (${statementKinds(counters[0].queries)}) and ${counters[1].queries.length} from the other (${statementKinds(counters[1].queries)})`;
    const results: WriteResult[] = [];
    for (const [subject, baseline] of pairs) {
      const ratios = rates.get(subject)!.map((r, i) => r / rates.get(baseline)![i]);
      results.push({ name: subject, perSecond: rates.get(subject)!, ratios });
      results.push({
        name: baseline,
        perSecond: rates.get(baseline)!,
        ratios: ratios.map(() => 1),
      });
    }
    return {
      results,
      sizeNote: `${writers} writers (${WRITERS_PER_INSTANCE} per instance), each awaiting its write before the next`,
      statements,
    };
  } finally {
    await Promise.allSettled(apps.map((app) => app.close()));
    await db.drop();
  }
}

function rawUpdate(source: DataSource, slug: string, n: number): Promise<unknown> {
  return source.query(
    'UPDATE plugins SET config = $1, version = version + 1, updated_at = now() WHERE slug = $2',
    [JSON.stringify({ n }), slug],
  );
}

async function sequence<T>(times: number, make: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < times; i++) out.push(await make());
  return out;
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('the two instances did not converge');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ------------------------------------------------------------------------------ report

runBench('scale', 'Scale: 10,000 plugins, memory, configure on PostgreSQL', async () => {
  progress('memory per hosted plugin');
  // Three readings each, the median kept: the first allocations of a process (compiled code,
  // feedback vectors) would otherwise land in whichever reading runs first.
  const plain = median([plainBytesPerRecord(), plainBytesPerRecord(), plainBytesPerRecord()]);
  const hostOnly = median(await sequence(3, () => hostBytesPerPlugin(new NullStore())));
  const withStore = median(await sequence(3, () => hostBytesPerPlugin('memory')));

  const load = LoadGenerator.start();
  let sizes: SizeResult[];
  try {
    sizes = await listLatency(load);
  } finally {
    load.stop();
  }
  progress('configure on PostgreSQL, 2 instances');
  const writes = await configureThroughput();

  const listTable: Table = {
    title: `Read routes, memory store, 1 connection, ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s per route (medians)`,
    columns: ['Plugins', 'Route', 'response KB', 'p50 ms', 'p99 ms', 'p50 vs bare route'],
    rows: [],
  };
  const distributions: Distribution[] = [];
  for (const { size, bytes, runs, ratios } of sizes) {
    for (const [name, list] of runs) {
      listTable.rows.push([
        fmt(size),
        name,
        fmt(bytes.get(name)! / 1024),
        ms(median(list.map((r) => r.latency.p50))),
        ms(median(list.map((r) => r.latency.p99))),
        ratio(median(ratios.get(name)!)),
      ]);
      if (size === SIZES.at(-1)) {
        const middle = [...list].sort((a, b) => a.latency.p50 - b.latency.p50)[list.length >> 1];
        distributions.push({
          group: `GET with ${fmt(size)} plugins, 1 connection`,
          label: name.replace('GET /api/plugin-host', '').replace('GET ', ''),
          baseline: name === LIST_BASELINE,
          stats: middle.latency,
        });
      }
    }
  }
  const memoryTable: Table = {
    title: `Heap per hosted plugin (${fmt(MEMORY_COUNT)} plugins registered, heapUsed after forced GC, median of 3)`,
    columns: ['Holder', 'bytes per plugin', 'vs plain Map of the same records'],
    rows: [
      [
        'PluginHostService only (a store that keeps nothing)',
        fmt(hostOnly),
        ratio(hostOnly / plain),
      ],
      ['PluginHostService + memory store', fmt(withStore), ratio(withStore / plain)],
      ['plain Map of the same records (baseline)', fmt(plain), '1.00x'],
    ],
  };
  const writeTable: Table = {
    title: `Writes on PostgreSQL, 2 app instances on one database, ${WRITE_ROUNDS} interleaved rounds of ${WRITE_SECONDS} s (medians); ${writes.sizeNote}`,
    columns: ['Write', 'writes/s', 'vs raw UPDATE'],
    rows: writes.results.map((r) => [r.name, fmt(median(r.perSecond)), ratio(median(r.ratios))]),
  };
  const largest = sizes.at(-1)!;
  const p50 = (name: ListRoute) => median(largest.runs.get(name)!.map((r) => r.latency.p50));
  const targets: Target[] = [];
  return {
    settings: [
      `read routes: ${SIZES.map((s) => fmt(s)).join(', ')} plugins registered through the service (memoryLimit 20,000), autocannon with 1 connection in its own process`,
      `memory: ${fmt(MEMORY_COUNT)} plugins, each with a 4-field config; node --expose-gc, three GCs before each heap reading`,
      `PostgreSQL: 2 application contexts on one throw-away database, LISTEN/NOTIFY on (the default), polling off (syncIntervalMs 0); baseline: \`UPDATE plugins SET config, version + 1, updated_at\` by primary key through the same TypeORM data sources`,
    ],
    tables: [listTable, memoryTable, writeTable],
    targets,
    distributions,
    notes: [
      `GET /plugins and GET /dashboard grow linearly with the number of plugins: the list is kept sorted and frozen in memory, so the time is JSON serialisation of the response (${fmt(largest.bytes.get('GET /api/plugin-host/plugins')! / 1024)} KB at ${fmt(largest.size)} plugins; p50 ${ms(p50('GET /api/plugin-host/plugins'))} ms against ${ms(p50(LIST_BASELINE))} ms for a bare route returning the same array). /dashboard also builds the nav, the capability list and the counts on every request.`,
      `Memory grows linearly with the number of plugins and with the size of each config: about ${fmt(hostOnly)} bytes per plugin in the service (a frozen snapshot per record plus the sorted-list cache), and ${fmt(withStore - hostOnly)} more with the memory store, which keeps its own copy of each record and an audit entry per change (the registration here; up to \`memoryLimit\` entries). The TypeORM stores keep neither in memory.`,
      `Configure on PostgreSQL: ${writes.statements} (the listener connection receives the NOTIFY and sends nothing). So its cost grows with the number of instances, not with the number of plugins; the raw baseline is one statement. On one row, writers from two instances also serialise on the version check and retry.`,
    ],
  };
});
