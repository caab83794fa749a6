/**
 * Propagation: how long after A's `toggle` resolves instance B sees the new state, for PostgreSQL
 * LISTEN/NOTIFY, MariaDB + Redis pub/sub and SQLite polling, against the raw transport measured in
 * the same run (NOTIFY from one connection to a LISTEN on another; Redis publish to a subscriber; a
 * bare poller at the same interval). Both instances live in this process, like the multi-instance
 * tests; the raw transports too.
 */
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { TypeOrmModule } from '@nestjs/typeorm';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import {
  PluginHostModule,
  PluginHostService,
  type PluginChangeEvent,
  type PluginHostModuleOptions,
} from 'nest-plugin-host';
import { Client } from 'pg';
import {
  createMariaDatabase,
  createPostgresDatabase,
  createSqliteDatabase,
  REDIS_URL,
  uniqueName,
  type BenchDatabase,
} from './lib/databases.js';
import { progress, runBench, type Distribution, type Table, type Target } from './lib/report.js';
import { ms, percentiles, ratio, sleep, type Percentiles } from './lib/stats.js';

const PUSH_TOGGLES = 300;
const POLL_TOGGLES = 200;
const POLL_INTERVAL_MS = 100;
/** Subject and raw transport alternate in blocks of this many samples. */
const BLOCK = 25;
const TARGET_P99_MS = 5;
const SLUG = 'flag';

/** A raw transport: `send()` sends one message; `onReceive` listeners fire when it arrives. */
interface RawTransport {
  send(): Promise<void>;
  onReceive(listener: () => void): void;
  close(): Promise<void>;
}

interface Setup {
  name: string;
  transport: string;
  toggles: number;
  target: boolean;
  database: () => Promise<BenchDatabase>;
  host: (channel: string) => PluginHostModuleOptions;
  raw: (db: BenchDatabase, channel: string) => Promise<RawTransport>;
  rawLabel: string;
}

const SETUPS: Setup[] = [
  {
    name: 'PostgreSQL LISTEN/NOTIFY',
    transport: 'postgres-notify',
    toggles: PUSH_TOGGLES,
    target: true,
    database: createPostgresDatabase,
    host: (syncChannel) => ({ syncIntervalMs: 0, syncChannel }),
    raw: rawPostgres,
    rawLabel: 'raw NOTIFY -> LISTEN (baseline)',
  },
  {
    name: 'MariaDB + Redis pub/sub',
    transport: 'redis',
    toggles: PUSH_TOGGLES,
    target: true,
    database: createMariaDatabase,
    host: (syncChannel) => ({ syncIntervalMs: 0, redis: REDIS_URL, syncChannel }),
    raw: rawRedis,
    rawLabel: 'raw PUBLISH -> SUBSCRIBE (baseline)',
  },
  {
    name: `SQLite polling (${POLL_INTERVAL_MS} ms)`,
    transport: 'polling',
    toggles: POLL_TOGGLES,
    target: false,
    database: createSqliteDatabase,
    host: (syncChannel) => ({ syncIntervalMs: POLL_INTERVAL_MS, syncChannel }),
    raw: rawPolling,
    rawLabel: `bare ${POLL_INTERVAL_MS} ms poller (baseline)`,
  },
];

async function rawPostgres(db: BenchDatabase, channel: string): Promise<RawTransport> {
  const listener = new Client({ connectionString: db.url });
  const sender = new Client({ connectionString: db.url });
  await Promise.all([listener.connect(), sender.connect()]);
  await listener.query(`LISTEN ${channel}_raw`);
  return {
    send: async () => {
      await sender.query('SELECT pg_notify($1, $2)', [`${channel}_raw`, '{"i":"bench"}']);
    },
    onReceive: (received) => listener.on('notification', () => received()),
    close: async () => {
      await Promise.all([listener.end(), sender.end()]);
    },
  };
}

async function rawRedis(_db: BenchDatabase, channel: string): Promise<RawTransport> {
  const subscriber = new Redis(REDIS_URL);
  const publisher = new Redis(REDIS_URL);
  await subscriber.subscribe(`${channel}_raw`);
  return {
    send: async () => {
      await publisher.publish(`${channel}_raw`, '{"i":"bench"}');
    },
    onReceive: (received) => subscriber.on('message', () => received()),
    close: async () => {
      await Promise.all([subscriber.quit(), publisher.quit()]);
    },
  };
}

/** A writer bumps a counter in its own table; a second connection polls it at the same interval. */
async function rawPolling(db: BenchDatabase): Promise<RawTransport> {
  const writer = new Database(db.name);
  writer.pragma('journal_mode = WAL');
  writer.exec('CREATE TABLE IF NOT EXISTS bench_tick (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)');
  writer.exec('INSERT OR IGNORE INTO bench_tick (id, v) VALUES (1, 0)');
  const reader = new Database(db.name, { readonly: true });
  const read = reader.prepare('SELECT v FROM bench_tick WHERE id = 1');
  const bump = writer.prepare('UPDATE bench_tick SET v = v + 1 WHERE id = 1');
  let last = (read.get() as { v: number }).v;
  const listeners: Array<() => void> = [];
  const timer = setInterval(() => {
    const { v } = read.get() as { v: number };
    if (v !== last) {
      last = v;
      for (const listener of listeners) listener();
    }
  }, POLL_INTERVAL_MS);
  return {
    send: async () => {
      bump.run();
    },
    onReceive: (received) => listeners.push(received),
    close: async () => {
      clearInterval(timer);
      writer.close();
      reader.close();
    },
  };
}

async function instance(db: BenchDatabase, host: PluginHostModuleOptions) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ ...db.options, autoLoadEntities: true } as never),
      EventEmitterModule.forRoot(),
      PluginHostModule.forRoot({ ...host, path: false, plugins: [{ slug: SLUG }] }),
    ],
  })
  class InstanceModule {}
  const app = await NestFactory.createApplicationContext(InstanceModule, {
    logger: false,
    abortOnError: false,
  });
  await app.init();
  return app;
}

/** Resolves with the time `arm()`'s next arrival happened (possibly before `arm` was awaited). */
class Arrivals {
  private waiting: { resolve: (t: number) => void; timer: NodeJS.Timeout } | undefined;
  private early: number | undefined;

  hit(): void {
    const now = performance.now();
    if (this.waiting) {
      clearTimeout(this.waiting.timer);
      this.waiting.resolve(now);
      this.waiting = undefined;
    } else {
      this.early = now;
    }
  }

  /** Call before sending; await the result after. */
  arm(timeoutMs: number, what: string): Promise<number> {
    this.early = undefined;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what}: nothing arrived in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting = { resolve, timer };
    });
  }
}

interface SetupResult {
  setup: Setup;
  /** From A's toggle resolving to B's event. */
  fromResolve: Percentiles;
  /** From A calling toggle to B's event. */
  fromCall: Percentiles;
  /** How many times B saw the change before A's toggle had resolved. */
  early: number;
  /** The raw transport's round trip: from the send call to arrival on the other connection. */
  raw: Percentiles;
  /** Push only: from A's toggle resolving to B's transport handing over the notice. */
  transport?: Percentiles;
  /** Push only: from the notice reaching B's host to B's event (re-read of the row, apply, emit). */
  hostWork?: Percentiles;
}

async function measure(setup: Setup): Promise<SetupResult> {
  const db = await setup.database();
  const channel = uniqueName('nph_bench_sync');
  const apps: INestApplicationContext[] = [];
  let raw: RawTransport | undefined;
  try {
    apps.push(await instance(db, setup.host(channel)));
    apps.push(await instance(db, setup.host(channel)));
    const [a, b] = apps.map((app) => app.get(PluginHostService));
    const seenOnB = new Arrivals();
    const onChange = (event: PluginChangeEvent) => {
      if (event.slug === SLUG && event.origin === 'remote') seenOnB.hit();
    };
    // When B's transport hands it the notice: splits the time into transport and host work. The
    // sync layer calls the public `applyNotice` on the host instance, so wrapping it there sees it.
    let noticed: number | undefined;
    const applyNotice = b.applyNotice.bind(b);
    b.applyNotice = (notice) => {
      if (setup.transport !== 'polling' && notice.changes.some((c) => c.slug === SLUG)) {
        noticed ??= performance.now();
      }
      return applyNotice(notice);
    };
    const emitterB = apps[1].get(EventEmitter2);
    emitterB.on('plugin-host.plugin.enabled', onChange);
    emitterB.on('plugin-host.plugin.disabled', onChange);
    raw = await setup.raw(db, channel);
    const rawArrivals = new Arrivals();
    raw.onReceive(() => rawArrivals.hit());

    const timeout = setup.transport === 'polling' ? 5 * POLL_INTERVAL_MS + 2000 : 5000;
    const fromResolve: number[] = [];
    const fromCall: number[] = [];
    const transport: number[] = [];
    const hostWork: number[] = [];
    const rawRoundTrip: number[] = [];
    let early = 0;
    // Polling: start each sample at a random phase of the interval, or every sample would wait one
    // whole interval (the next write would always land just after the tick that saw the last one).
    const dephase = () =>
      setup.transport === 'polling' ? sleep(Math.random() * POLL_INTERVAL_MS) : undefined;
    const toggleOnce = async () => {
      await dephase();
      const arrival = seenOnB.arm(timeout, `${setup.name}: toggle`);
      noticed = undefined;
      const called = performance.now();
      const after = await a.toggle(SLUG);
      const resolved = performance.now();
      const seen = await arrival;
      if (b.isEnabled(SLUG) !== after.enabled) throw new Error(`${setup.name}: B disagrees with A`);
      if (seen < resolved) early++;
      fromResolve.push(Math.max(0, seen - resolved));
      fromCall.push(seen - called);
      if (noticed !== undefined) {
        transport.push(Math.max(0, noticed - resolved));
        hostWork.push(seen - noticed);
      }
    };
    const rawOnce = async () => {
      await dephase();
      const arrival = rawArrivals.arm(timeout, `${setup.name}: raw`);
      const called = performance.now();
      await raw!.send();
      rawRoundTrip.push((await arrival) - called);
    };
    // Warm-up: JIT, connection pools, prepared statements.
    for (let i = 0; i < (setup.transport === 'polling' ? 3 : 10); i++) {
      await toggleOnce();
      await rawOnce();
    }
    fromResolve.length = fromCall.length = rawRoundTrip.length = 0;
    transport.length = hostWork.length = 0;
    early = 0;
    for (let block = 0; fromResolve.length < setup.toggles; block++) {
      const order = block % 2 === 0 ? [toggleOnce, rawOnce] : [rawOnce, toggleOnce];
      for (const step of order) for (let i = 0; i < BLOCK; i++) await step();
    }
    progress(
      `${setup.name}: p99 ${ms(percentiles(fromResolve).p99)} ms (raw round trip ${ms(percentiles(rawRoundTrip).p99)} ms)`,
    );
    return {
      setup,
      fromResolve: percentiles(fromResolve),
      fromCall: percentiles(fromCall),
      early,
      raw: percentiles(rawRoundTrip),
      transport: transport.length ? percentiles(transport) : undefined,
      hostWork: hostWork.length ? percentiles(hostWork) : undefined,
    };
  } finally {
    await raw?.close().catch(() => undefined);
    await Promise.allSettled(apps.map((app) => app.close()));
    await db.drop();
  }
}

runBench('propagation', 'Propagation between two instances', async () => {
  const results: SetupResult[] = [];
  for (const setup of SETUPS) results.push(await measure(setup));

  const table: Table = {
    title:
      "From A's `toggle` resolving to B's `plugin-host.plugin.enabled/disabled` event, against the raw transport's round trip (ms)",
    columns: ['Transport', 'Measured', 'n', 'p50', 'p95', 'p99', 'max', 'p99 vs raw'],
    rows: [],
  };
  const endToEnd: Table = {
    title: "From A calling `toggle` (conditional write, commit, publish) to B's event (ms)",
    columns: ['Transport', 'p50', 'p95', 'p99', 'max'],
    rows: [],
  };
  const split: Table = {
    title:
      "Where B's time goes (push transports): A's toggle resolved -> notice handed to B's host -> B's event (ms)",
    columns: ['Transport', 'Part', 'p50', 'p95', 'p99', 'max'],
    rows: [],
  };
  const targets: Target[] = [];
  const distributions: Distribution[] = [];
  const notes: string[] = [];
  for (const r of results) {
    const row = (label: string, p: Percentiles, vs: string) => [
      r.setup.name,
      label,
      String(p.n),
      ms(p.p50),
      ms(p.p95),
      ms(p.p99),
      ms(p.max),
      vs,
    ];
    table.rows.push(
      row('A.toggle() resolved -> B sees it', r.fromResolve, ratio(r.fromResolve.p99 / r.raw.p99)),
    );
    table.rows.push(row(r.setup.rawLabel, r.raw, '1.00x'));
    const e = r.fromCall;
    endToEnd.rows.push([r.setup.name, ms(e.p50), ms(e.p95), ms(e.p99), ms(e.max)]);
    for (const [part, p] of [
      ['transport: resolved -> notice on B', r.transport],
      ['host: notice -> event (SELECT by key, apply, emit)', r.hostWork],
    ] as const) {
      if (p) split.rows.push([r.setup.name, part, ms(p.p50), ms(p.p95), ms(p.p99), ms(p.max)]);
    }
    const group = `Propagation: ${r.setup.name}`;
    distributions.push(
      { group, label: 'A.toggle() resolved -> B sees it', baseline: false, stats: r.fromResolve },
      { group, label: r.setup.rawLabel.replace(' (baseline)', ''), baseline: true, stats: r.raw },
    );
    if (r.setup.target) {
      targets.push({
        what: `Propagation p99 (${r.setup.name})`,
        goal: `< ${TARGET_P99_MS} ms`,
        measured: `${ms(r.fromResolve.p99)} ms`,
        met: r.fromResolve.p99 < TARGET_P99_MS,
      });
    }
    if (r.early > 0) {
      notes.push(
        `${r.setup.name}: B saw the change before A's toggle had resolved in ${r.early} of ${r.fromResolve.n} toggles (A resolves only after its own publish round trip); those count as 0 ms.`,
      );
    }
  }
  notes.push(
    'The raw baselines run the bare transport between two connections of their own, in blocks alternating with the toggles, timed from the send call to the arrival: `SELECT pg_notify` on one pg client to another that LISTENs, PUBLISH on one ioredis client to another that SUBSCRIBEs, and for polling a bare `setInterval` reader of a counter that another connection bumps.',
    "After a push notice B re-reads the named row by primary key before it applies it, so the host's floor is the raw transport plus one SELECT; polling's floor is half the interval on average.",
  );
  return {
    settings: [
      `${PUSH_TOGGLES} toggles per push transport, ${POLL_TOGGLES} with polling (syncIntervalMs ${POLL_INTERVAL_MS}), after 10 warm-up toggles; raw transport samples interleaved in blocks of ${BLOCK}`,
      'A and B are two Nest application contexts in one process (as in the multi-instance tests), each with its own data source; polling off for the push transports, so only the push path is timed',
      'each setup creates its own database (and its own channel name) and drops it at the end',
    ],
    tables: [table, split, endToEnd],
    targets,
    distributions,
    notes,
  };
});
