/**
 * Dispatch: the cost of `runCapability` on a trivial async capability, against calling the method
 * directly, and against what a Nest user would otherwise reach for: `@nestjs/cqrs` `CommandBus` and
 * `EventEmitter2.emitAsync`. Also a bare Map lookup plus enabled check, the floor any host can reach.
 */
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Command,
  CommandBus,
  CommandHandler,
  CqrsModule,
  type ICommandHandler,
} from '@nestjs/cqrs';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Capability, PluginHostModule, PluginHostService } from 'nest-plugin-host';
import { Bench } from 'tinybench';
import { progress, runBench, type Table, type Target } from './lib/report.js';
import { fmt, median, ratio, ratioAgainst, rotate } from './lib/stats.js';

const ROUNDS = 21;
const ROUND_MS = 60;
const TARGET = 0.7;

/**
 * Two ways to time a ~100 ns call. "Per call": tinybench times every awaited call (its own timing
 * and promise overhead, some 200 ns here, is in every sample): how issue 8 calibrated its target.
 * "Batched": each sample awaits 500 calls in a row, so only the dispatch itself is compared.
 */
const MODES = [
  { name: 'per call', batch: 1 },
  { name: 'batched', batch: 500 },
] as const;

interface Input {
  n: number;
}

@Injectable()
class Calculator {
  @Capability('calc.add')
  async add(input: Input): Promise<number> {
    return input.n + 1;
  }
}

class AddCommand extends Command<number> {
  constructor(readonly n: number) {
    super();
  }
}

@CommandHandler(AddCommand)
class AddHandler implements ICommandHandler<AddCommand, number> {
  async execute(command: AddCommand): Promise<number> {
    return command.n + 1;
  }
}

@Injectable()
class AddListener {
  @OnEvent('calc.add')
  async add(input: Input): Promise<number> {
    return input.n + 1;
  }
}

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    CqrsModule.forRoot(),
    PluginHostModule.forRoot({ store: 'memory', path: false }),
  ],
  providers: [Calculator, AddHandler, AddListener],
})
class DispatchModule {}

/** What a host minimally has to do: find the capability, check its plugin is on, call it. */
function bareHost(calculator: Calculator) {
  const capabilities = new Map([
    ['calc.add', { plugin: 'calc', handler: calculator.add.bind(calculator) }],
  ]);
  const plugins = new Map([['calc', { enabled: true }]]);
  return (slug: string, input: Input): Promise<number> => {
    const capability = capabilities.get(slug);
    if (!capability || plugins.get(capability.plugin)?.enabled !== true) {
      return Promise.reject(new Error('refused'));
    }
    return capability.handler(input);
  };
}

type Tasks = Record<string, () => Promise<void>>;

interface Subjects {
  host: PluginHostService;
  calculator: Calculator;
  commands: CommandBus;
  events: EventEmitter2;
  bare: ReturnType<typeof bareHost>;
}

/** Each loop is its own function literal, so no call site is shared (and made polymorphic) by two. */
function makeTasks(s: Subjects, batch: number, sink: { value: number }): Tasks {
  const input: Input = { n: 1 };
  // What a REST run passes (the module's default `capabilityTimeoutMs`).
  const limited = { timeoutMs: 30_000 };
  return {
    'direct method call': async () => {
      for (let i = 0; i < batch; i++) sink.value += await s.calculator.add(input);
    },
    'Map lookup + enabled check': async () => {
      for (let i = 0; i < batch; i++) sink.value += await s.bare('calc.add', input);
    },
    runCapability: async () => {
      for (let i = 0; i < batch; i++) {
        sink.value += (await s.host.runCapability('calc.add', input)) as number;
      }
    },
    'runCapability, 30 s time limit': async () => {
      for (let i = 0; i < batch; i++) {
        sink.value += (await s.host.runCapability('calc.add', input, limited)) as number;
      }
    },
    'CommandBus.execute': async () => {
      for (let i = 0; i < batch; i++) sink.value += await s.commands.execute(new AddCommand(1));
    },
    'EventEmitter2.emitAsync': async () => {
      for (let i = 0; i < batch; i++) {
        sink.value += ((await s.events.emitAsync('calc.add', input)) as number[])[0];
      }
    },
  };
}

interface ModeResult {
  names: string[];
  ops: Map<string, number>;
  ratios: Map<string, number>;
}

async function measure(tasks: Tasks, batch: number, label: string): Promise<ModeResult> {
  const names = Object.keys(tasks);
  const opsPerSecond = new Map<string, number[]>(names.map((n) => [n, []]));
  const ratios = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: ROUND_MS, warmupTime: round === 0 ? 300 : 30 });
    for (const name of rotate(names, round)) bench.add(name, tasks[name], { async: true });
    await bench.run();
    const rates = new Map<string, number>();
    for (const task of bench.tasks) {
      const result = task.result as { period?: number; state: string };
      if (result.state !== 'completed' || !result.period) throw new Error(`${task.name} failed`);
      rates.set(task.name, (batch * 1000) / result.period);
    }
    const direct = rates.get('direct method call')!;
    for (const name of names) {
      opsPerSecond.get(name)!.push(rates.get(name)!);
      ratios.get(name)!.push(rates.get(name)! / direct);
    }
    if ((round + 1) % 7 === 0) {
      progress(
        `${label} round ${round + 1}/${ROUNDS}: runCapability ${ratio(ratios.get('runCapability')!.at(-1)!)} of direct`,
      );
    }
  }
  return {
    names,
    ops: new Map(names.map((n) => [n, median(opsPerSecond.get(n)!)])),
    ratios: new Map(names.map((n) => [n, median(ratios.get(n)!)])),
  };
}

runBench('dispatch', 'Dispatch: runCapability vs a direct call', async () => {
  const app = await NestFactory.createApplicationContext(DispatchModule, {
    logger: false,
    abortOnError: false,
  });
  await app.init();
  const calculator = app.get(Calculator);
  const subjects: Subjects = {
    host: app.get(PluginHostService),
    calculator,
    commands: app.get(CommandBus),
    events: app.get(EventEmitter2),
    bare: bareHost(calculator),
  };

  const results: Array<{ mode: string; batch: number; result: ModeResult }> = [];
  for (const mode of MODES) {
    const sink = { value: 0 };
    const tasks = makeTasks(subjects, mode.batch, sink);
    for (const [name, task] of Object.entries(tasks)) {
      sink.value = 0;
      await task();
      if (sink.value !== 2 * mode.batch) throw new Error(`${name} computed a wrong result`);
    }
    results.push({ ...mode, mode: mode.name, result: await measure(tasks, mode.batch, mode.name) });
  }
  await app.close();

  const table: Table = {
    title: `Trivial async capability (\`async (input) => input.n + 1\`); median of ${ROUNDS} interleaved rounds`,
    columns: [
      'Dispatch',
      'per call: ops/s',
      'per call: vs direct',
      'batched: ops/s',
      'batched: vs direct',
      'batched: ns/call',
    ],
    rows: results[0].result.names.map((name) => {
      const [perCall, batched] = results.map((r) => r.result);
      return [
        name,
        fmt(perCall.ops.get(name)!),
        ratio(perCall.ratios.get(name)!),
        fmt(batched.ops.get(name)!),
        ratio(batched.ratios.get(name)!),
        fmt(1e9 / batched.ops.get(name)!),
      ];
    }),
  };
  // Issue 8's target is per call: its calibration (a bare Map lookup ~0.93x of a direct call) is
  // this bench's per-call mode, where the same lookup reaches ~1.0x; batched, it reaches ~0.8x.
  const perCallRatio = results[0].result.ratios.get('runCapability')!;
  const targets: Target[] = [
    {
      what: 'Dispatch (per call): runCapability vs direct call',
      goal: `>= ${TARGET}x`,
      measured: ratioAgainst(perCallRatio, TARGET),
      met: perCallRatio >= TARGET,
    },
  ];
  return {
    settings: [
      `${ROUNDS} rounds of tinybench per mode, ${ROUND_MS} ms per task per round, task order rotated every round`,
      `per call: one awaited call per tinybench sample; batched: ${MODES[1].batch} awaited calls in a row per sample`,
      'memory store; EventEmitterModule and CqrsModule loaded in the same application context',
    ],
    tables: [table],
    targets,
    distributions: [],
    notes: [
      'ratio = ops/s of the dispatch / ops/s of the direct call in the same round (median over rounds).',
      'Every dispatch runs the same body (`input.n + 1`, async); only the way it is reached differs.',
      '"Per call" carries tinybench\'s own cost (~200 ns) in every sample, as issue 8\'s calibration did (a bare Map lookup ~0.93x there); "batched" removes it and compares the dispatch alone.',
      'The run with a time limit is what `POST /capabilities/:slug/run` does (30 s unless the capability sets its own): its timer is armed only for a run still going when the turn of the event loop ends, so in these loops of calls that settle at once no timer is ever armed.',
      'The target is read per call, the mode issue 8 calibrated it on. Batched is the stricter view, with no target: there even the bare Map lookup and enabled check, the floor of any dispatch by slug, stays near 0.8x of the direct call.',
    ],
  };
});
