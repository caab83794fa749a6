/**
 * HTTP: `POST /api/plugin-host/capabilities/:slug/run` against a bare route of the same app that calls
 * the same function, with autocannon in its own process, on Express and on Fastify.
 */
import {
  Body,
  Controller,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  UseGuards,
  ValidationPipe,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { IsInt, IsOptional } from 'class-validator';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { Capability, PluginHostModule } from 'nest-plugin-host';
import { expectJson, listen, type Platform } from './lib/apps.js';
import { CALC_BODY as BODY, calcApp, calcLoad, type Adder } from './lib/calc-app.js';
import { LoadGenerator, type LoadResult } from './lib/http-load.js';
import { progress, runBench, type Distribution, type Table, type Target } from './lib/report.js';
import { fmt, median, ms, ratio, ratioAgainst, rotate } from './lib/stats.js';

const CONNECTIONS = 10;
const ROUND_SECONDS = 1;
const ROUNDS = 16;
const WARMUP_SECONDS = 1;
const TARGET = 0.9;
/** `BENCH_HTTP_PLATFORMS=fastify` measures one platform only (when profiling a fix). */
const PLATFORMS = (process.env.BENCH_HTTP_PLATFORMS ?? 'express,fastify')
  .split(',')
  .filter((name): name is Platform => name === 'express' || name === 'fastify');

const { Calculator, BareController } = calcApp(Capability);

/** What a hand-written route that checks access and validates its body typically carries. */
@Injectable()
class AccessGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>();
    return request.headers['x-denied'] === undefined;
  }
}

class AddDto {
  @IsOptional()
  @IsInt()
  n?: number;
}

@Controller('checked')
class CheckedController {
  constructor(@Inject(Calculator) private readonly calculator: Adder) {}

  @Post('add')
  @HttpCode(200)
  @UseGuards(AccessGuard)
  async add(@Body(new ValidationPipe({ whitelist: true })) body: AddDto) {
    return { output: await this.calculator.add(body) };
  }
}

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    PluginHostModule.forRoot({ store: 'memory', allowAnonymous: true }),
  ],
  providers: [Calculator, AccessGuard],
  controllers: [BareController, CheckedController],
})
class HttpModule {}

const ROUTES = {
  'POST /api/plugin-host/capabilities/calc.add/run': '/api/plugin-host/capabilities/calc.add/run',
  'POST /bare/add (baseline)': '/bare/add',
  'POST /checked/add (a guard + ValidationPipe, for reference)': '/checked/add',
} as const;
type RouteName = keyof typeof ROUTES;
const SUBJECT: RouteName = 'POST /api/plugin-host/capabilities/calc.add/run';
const BASELINE: RouteName = 'POST /bare/add (baseline)';
const REFERENCE: RouteName = 'POST /checked/add (a guard + ValidationPipe, for reference)';

interface PlatformResult {
  platform: Platform;
  error?: string;
  runs?: Map<RouteName, LoadResult[]>;
  ratios?: number[];
}

async function measure(load: LoadGenerator, platform: Platform): Promise<PlatformResult> {
  let started: Awaited<ReturnType<typeof listen>>;
  try {
    started = await listen(HttpModule, platform);
    for (const path of Object.values(ROUTES)) {
      const answer = await expectJson(`${started.url}${path}`, { method: 'POST', body: BODY });
      if ((answer as { output?: { sum?: number } }).output?.sum !== 42) {
        throw new Error(`${path} answered ${JSON.stringify(answer)}`);
      }
    }
  } catch (error) {
    return { platform, error: (error as Error).message };
  }
  const { app, url } = started;
  const job = (path: string, seconds: number) => calcLoad(`${url}${path}`, seconds, CONNECTIONS);
  try {
    for (const path of Object.values(ROUTES)) await load.run(job(path, WARMUP_SECONDS));
    const runs = new Map<RouteName, LoadResult[]>([
      [SUBJECT, []],
      [BASELINE, []],
      [REFERENCE, []],
    ]);
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of rotate(Object.keys(ROUTES) as RouteName[], round)) {
        const result = await load.run(job(ROUTES[name], ROUND_SECONDS));
        if (result.failed > 0) throw new Error(`${name}: ${result.failed} failed requests`);
        runs.get(name)!.push(result);
      }
      const last = (name: RouteName) => runs.get(name)!.at(-1)!.perSecond;
      ratios.push(last(SUBJECT) / last(BASELINE));
      progress(
        `${platform} round ${round + 1}/${ROUNDS}: ${ratio(ratios.at(-1)!)} of the bare route`,
      );
    }
    return { platform, runs, ratios };
  } finally {
    await app.close();
  }
}

runBench('http', 'HTTP: the run route vs a bare route', async () => {
  const load = LoadGenerator.start();
  const results: PlatformResult[] = [];
  try {
    for (const platform of PLATFORMS) results.push(await measure(load, platform));
  } finally {
    load.stop();
  }

  const table: Table = {
    title: `autocannon, ${CONNECTIONS} connections, ${ROUND_SECONDS} s per route per round, ${ROUNDS} interleaved rounds (medians)`,
    columns: [
      'Platform',
      'Route',
      'req/s',
      'vs bare route',
      'p50 ms',
      'p99 ms',
      'server CPU µs/req',
      'CPU vs bare route',
    ],
    rows: [],
  };
  const targets: Target[] = [];
  const distributions: Distribution[] = [];
  const notes: string[] = [];
  for (const { platform, error, runs, ratios } of results) {
    if (error || !runs || !ratios) {
      table.rows.push([platform, 'not measured', '', '', '', '', '', '']);
      notes.push(`${platform}: the app did not serve the routes, so it was skipped: ${error}`);
      continue;
    }
    const shown: RouteName[] = [SUBJECT, BASELINE, REFERENCE];
    for (const name of shown) {
      const list: LoadResult[] = runs.get(name)!;
      table.rows.push([
        platform,
        name,
        fmt(median(list.map((r) => r.perSecond))),
        name === SUBJECT
          ? ratio(median(ratios))
          : ratio(median(list.map((r, i) => r.perSecond / runs.get(BASELINE)![i].perSecond))),
        ms(median(list.map((r) => r.latency.p50))),
        ms(median(list.map((r) => r.latency.p99))),
        fmt(median(list.map((r) => r.cpuMicros))),
        ratio(median(runs.get(BASELINE)!.map((r, i) => r.cpuMicros / list[i].cpuMicros))),
      ]);
      if (name === REFERENCE) continue;
      // The chart shows the round whose p50 is the median one.
      const middle = [...list].sort((a, b) => a.latency.p50 - b.latency.p50)[list.length >> 1];
      distributions.push({
        group: `HTTP ${platform}, ${CONNECTIONS} connections`,
        label: name === SUBJECT ? 'capabilities/:slug/run' : 'bare route (baseline)',
        baseline: name === BASELINE,
        stats: middle.latency,
      });
    }
    const measured = median(ratios);
    targets.push({
      what: `HTTP (${platform}): run route vs bare route, req/s`,
      goal: `>= ${TARGET}x`,
      measured: ratioAgainst(measured, TARGET),
      met: measured >= TARGET,
    });
  }
  const requests = results.flatMap((r) => [...(r.runs?.values() ?? [])].flat());
  notes.push(
    `Latency percentiles are computed from every 2xx response's own time (${fmt(requests.reduce((n, r) => n + r.requests, 0))} responses in all), not autocannon's whole-millisecond histogram.`,
    "The routes run in one app and call the same `add()`. The run route adds the module's access guard (with the transport rules: 415/413 and `+json` bodies), on Fastify the hooks that give bodies Express's parsing rules, the body checks (object, depth, keys, no `__proto__`), the slug check and `runCapability` with its REST time limit.",
    'The third route is for reference, not a target: what a hand-written route with an access guard and a class-validator `ValidationPipe` DTO costs in the same app.',
    '"CPU vs bare route" is the bare route\'s server CPU time per request divided by the run route\'s (so, like req/s, 1.00x means no overhead): it is measured with `process.cpuUsage()` in the server process and is less disturbed than req/s by other load on a shared machine.',
  );
  return {
    settings: [
      `loopback only (127.0.0.1); autocannon in a separate process, ${CONNECTIONS} connections, pipelining 1`,
      `${WARMUP_SECONDS} s warm-up per route, then ${ROUNDS} rounds x ${ROUND_SECONDS} s per route, route order rotated every round`,
      `body \`${BODY}\`, content-type application/json; memory store; EventEmitterModule loaded`,
    ],
    tables: [table],
    targets,
    distributions,
    notes,
  };
});
