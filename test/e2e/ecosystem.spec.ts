import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InMemoryPluginStore,
  PluginHostHealthIndicator,
  PluginHostService,
} from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly pluginHost: PluginHostHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.pluginHost.isHealthy('plugin-host', { timeoutMs: 200 })]);
  }
}

@Module({ imports: [TerminusModule], controllers: [HealthController] })
class HealthModule {}

describe('health indicator for @nestjs/terminus', () => {
  it('reports the store reachable and the sync lag', async () => {
    const app = await createTestApp({ imports: [HealthModule as never] });
    apps.push(app);
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(200);
    expect(res.body.info['plugin-host']).toMatchObject({
      status: 'up',
      store: 'reachable',
      syncLagMs: expect.any(Number),
      transports: ['polling'],
    });
  });

  it('reports down with 503 when the store does not answer', async () => {
    const store = new InMemoryPluginStore();
    const app = await createTestApp({ host: { store }, imports: [HealthModule as never] });
    apps.push(app);
    store.fingerprint = () => new Promise(() => undefined); // hangs
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(503);
    expect(res.body.error['plugin-host']).toMatchObject({ status: 'down', store: 'unreachable' });
  });

  it('reports down when the sync lag passes maxSyncLagMs', async () => {
    const app = await createTestApp({ host: { syncIntervalMs: 0 } });
    apps.push(app);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const result = await app.get(PluginHostHealthIndicator).isHealthy('ph', { maxSyncLagMs: 10 });
    expect(result.ph).toMatchObject({
      status: 'down',
      reason: expect.stringMatching(/Not in step/),
    });
  });
});

describe('OpenTelemetry', () => {
  afterEach(() => trace.disable());

  it('wraps capability runs in spans with slug, plugin, outcome and duration', async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    const app = await createTestApp();
    apps.push(app);
    const host = app.get(PluginHostService);
    await host.runCapability('billing.charge', { amount: 1 });
    await expect(host.runCapability('newsletter.fail', {})).rejects.toThrow('hunter2');
    await host.disable('mail');
    await expect(host.runCapability('mail.deliver', {})).rejects.toThrow(/disabled/);
    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name)!;
    expect(byName('capability billing.charge').attributes).toMatchObject({
      'plugin_host.capability': 'billing.charge',
      'plugin_host.plugin': 'billing',
      'plugin_host.outcome': 'ok',
      'plugin_host.duration_ms': expect.any(Number),
    });
    expect(byName('capability newsletter.fail').attributes['plugin_host.outcome']).toBe('error');
    expect(byName('capability newsletter.fail').status.code).toBe(2);
    expect(byName('capability mail.deliver').attributes['plugin_host.outcome']).toBe('refused');
  });

  it('costs nothing and records nothing without a registered SDK', async () => {
    const app = await createTestApp();
    apps.push(app);
    const host = app.get(PluginHostService) as unknown as { telemetry: unknown };
    expect(host.telemetry).toBeUndefined();
  });
});

describe('PluginHostService.subscribe', () => {
  it('delivers every change, masked, with or without an event emitter, until unsubscribed', async () => {
    const app = await createTestApp({ events: false });
    apps.push(app);
    const host = app.get(PluginHostService);
    const seen: string[] = [];
    const stop = host.subscribe((event) =>
      seen.push(`${event.action}:${event.slug}:${event.origin}`),
    );
    await host.disable('mail');
    await host.reorder(['mail']);
    stop();
    await host.enable('mail');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe('disabled:mail:local');
    // A reorder names the plugins whose sort changed, mail first.
    expect(seen[1]).toMatch(/^reordered:mail(,[a-z-]+)*:local$/);
  });
});
