import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { CapabilityTimeoutError, PluginHostService } from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { SlowPlugin } from '../src/plugins.fixture.js';

const API = '/api/plugin-host';
const apps: INestApplication[] = [];
async function boot(options: Parameters<typeof createTestApp>[0] = {}) {
  const app = await createTestApp({ providers: [...DEFAULT_PROVIDERS, SlowPlugin], ...options });
  apps.push(app);
  return app;
}
afterEach(async () => {
  delete process.env.PLUGIN_HOST_FORCE_DISABLED;
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('kill switch', () => {
  it('forces plugins named in PLUGIN_HOST_FORCE_DISABLED off on this instance, whatever the store says', async () => {
    process.env.PLUGIN_HOST_FORCE_DISABLED = ' billing , mail';
    const app = await boot();
    const host = app.get(PluginHostService);
    expect(host.get('billing').enabled).toBe(true); // the stored record is untouched
    expect(host.isEnabled('billing')).toBe(false);
    await expect(host.runCapability('billing.charge', { amount: 1 })).rejects.toMatchObject({
      code: 'PLUGIN_DISABLED',
      forced: true,
    });
    const run = await request(app.getHttpServer())
      .post(`${API}/capabilities/mail.deliver/run`)
      .send({ to: 'x' });
    expect(run.status).toBe(409);
    expect(run.body.message).toMatch(/PLUGIN_HOST_FORCE_DISABLED/);
    expect(host.nav().map((n) => n.slug)).not.toContain('mail');
    const dashboard = (await request(app.getHttpServer()).get(`${API}/dashboard`)).body;
    expect(dashboard.forcedDisabled).toEqual(['billing', 'mail']);
    expect(
      dashboard.capabilities.find((c: { slug: string }) => c.slug === 'billing.charge').enabled,
    ).toBe(false);
    // An admin enabling it in the store does not override the switch.
    await host.enable('billing');
    expect(host.isEnabled('billing')).toBe(false);
    // Other plugins are unaffected.
    await expect(host.runCapability('newsletter.echo', {})).resolves.toMatchObject({ depth: 0 });
  });

  it('takes the forceDisabled option too', async () => {
    const app = await boot({ host: { forceDisabled: ['newsletter'] } });
    expect(app.get(PluginHostService).isEnabled('newsletter')).toBe(false);
    expect(app.get(PluginHostService).isEnabled('mail')).toBe(true);
  });
});

describe('capability time limits', () => {
  it('answers 504 CAPABILITY_TIMEOUT over REST and aborts ctx.signal', async () => {
    const app = await boot();
    const started = Date.now();
    const res = await request(app.getHttpServer())
      .post(`${API}/capabilities/slow.wait/run`)
      .send({});
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ statusCode: 504, code: 'CAPABILITY_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2_000);
    const slow = app.get(SlowPlugin);
    expect(slow.aborted).toHaveLength(1);
    expect(slow.aborted[0]).toBeInstanceOf(CapabilityTimeoutError);
  });

  it('uses the module default when the capability sets none', async () => {
    const app = await boot({ host: { capabilityTimeoutMs: 50 } });
    const http = () => request(app.getHttpServer());
    expect(
      (await http().post(`${API}/capabilities/slow.default/run`).send({ ms: 500 })).status,
    ).toBe(504);
    expect(
      (await http().post(`${API}/capabilities/slow.default/run`).send({ ms: 1 })).body,
    ).toEqual({
      output: 'done',
    });
  });

  it('keeps serving other requests while a capability hangs', async () => {
    const app = await boot();
    const http = () => request(app.getHttpServer());
    const hanging = http().post(`${API}/capabilities/slow.wait/run`).send({});
    const quick = await http().post(`${API}/capabilities/billing.charge/run`).send({ amount: 3 });
    expect(quick.body).toEqual({ output: { charged: 3 } });
    expect((await hanging).status).toBe(504);
  });

  it('lets code callers pass a time limit or a signal', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    await expect(
      host.runCapability('slow.default', { ms: 300 }, { timeoutMs: 20 }),
    ).rejects.toBeInstanceOf(CapabilityTimeoutError);
    const controller = new AbortController();
    const pending = host.runCapability('slow.wait', { ms: 5_000 }, { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
    // Without either, code calls are not limited.
    await expect(host.runCapability('slow.default', { ms: 30 })).resolves.toBe('done');
  });
});

describe('size limits', () => {
  it('answers 413 for a body over maxBodyBytes and 400 for too many keys, changing nothing', async () => {
    const app = await boot({ host: { maxBodyBytes: 2_000, maxJsonKeys: 50 } });
    const http = () => request(app.getHttpServer());
    const big = await http()
      .post(`${API}/plugins/mail/configure`)
      .send({ blob: 'x'.repeat(3_000) });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
    const wide = await http()
      .post(`${API}/plugins/mail/configure`)
      .send(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i])));
    expect(wide.status).toBe(400);
    expect(wide.body.message).toMatch(/more than 50 keys/);
    expect(app.get(PluginHostService).get('mail').config).toEqual({});
  });

  it('refuses a config over maxJsonKeys once merged, over REST too', async () => {
    const app = await boot({ host: { maxJsonKeys: 10 } });
    const host = app.get(PluginHostService);
    const keys = (from: number) =>
      Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${from + i}`, i]));
    await host.configure('mail', keys(0));
    await expect(host.configure('mail', keys(8))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const wider = await request(app.getHttpServer())
      .post(`${API}/plugins/mail/configure`)
      .send(keys(16));
    expect([wider.status, wider.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(wider.body.message).toMatch(/more than 10 keys/);
    expect(Object.keys(host.get('mail').config)).toHaveLength(8);
  });

  it('refuses a config over maxConfigBytes once merged', async () => {
    const app = await boot({ host: { maxConfigBytes: 1_000 } });
    const host = app.get(PluginHostService);
    await host.configure('mail', { a: 'x'.repeat(600) });
    await expect(host.configure('mail', { b: 'y'.repeat(600) })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      status: 413,
    });
    expect(host.configValue('mail', 'b')).toBeUndefined();
  });
});

describe('unknown routes under the API path', () => {
  it('answer 404 NOT_FOUND in the same JSON shape', async () => {
    const app = await boot();
    const res = await request(app.getHttpServer()).get(`${API}/nothing/here`);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });
});
