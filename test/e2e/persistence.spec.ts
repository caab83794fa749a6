import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginHostService } from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';
import { QueryCounter } from '../src/query-counter.js';

const API = '/api/plugin-host';

describe.each(DATABASES)('persistence on %s', (_name, createDatabase) => {
  let db: TestDatabase;
  const counter = new QueryCounter();
  const boot = () => createTestApp({ database: { ...db.options, logger: counter } as never });

  beforeAll(async () => {
    db = await createDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('keeps admin changes across a restart and never re-applies code defaults over them', async () => {
    let app = await boot();
    const http = () => request(app.getHttpServer());
    expect((await http().get(`${API}/plugins/newsletter`)).body).toMatchObject({
      enabled: true,
      sort: 10,
      config: { from: 'news@example.com' },
    });
    await http().post(`${API}/plugins/newsletter/toggle`).send({ enabled: false }).expect(200);
    await http()
      .post(`${API}/plugins/newsletter/configure`)
      .send({ from: 'admin@example.com', smtp: { host: 'mx', port: 25 } })
      .expect(200);
    await http()
      .patch(`${API}/plugins/mail`)
      .send({ labelEn: 'Post office', nav: false })
      .expect(200);
    await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['mail', 'newsletter'] })
      .expect(200);
    await http()
      .post(`${API}/plugins`)
      .send({ slug: 'beta', kind: 'feature', config: { a: 1 } })
      .expect(201);
    const before = (await http().get(`${API}/plugins`)).body;
    await app.close();

    app = await boot();
    const after = (await http().get(`${API}/plugins`)).body;
    expect(after).toEqual(before);
    const newsletter = after.find((p: { slug: string }) => p.slug === 'newsletter');
    expect(newsletter).toMatchObject({
      enabled: false,
      config: { from: 'admin@example.com', smtp: { host: 'mx', port: 25 } },
    });
    expect(after.find((p: { slug: string }) => p.slug === 'mail')).toMatchObject({
      labelEn: 'Post office',
      nav: false,
      sort: 10,
    });
    // The disabled state survived too: the capability is still refused.
    const run = await http().post(`${API}/capabilities/newsletter.send/run`).send({ subject: 'x' });
    expect(run.status).toBe(409);
    expect(run.body.code).toBe('PLUGIN_DISABLED');
    await app.close();
  });

  it('runs capabilities and answers every read without a database query', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    await host.enable('newsletter');
    counter.reset();
    for (let i = 0; i < 200; i++) {
      await host.runCapability('newsletter.send', { subject: `s${i}` });
      host.isEnabled('mail');
      host.list();
      host.nav('ar');
      host.configValue('newsletter', 'from');
      host.capabilities();
    }
    await request(app.getHttpServer())
      .post(`${API}/capabilities/mail.deliver/run`)
      .send({ to: 'a', subject: 'b' })
      .expect(200);
    await request(app.getHttpServer()).get(`${API}/dashboard`).expect(200);
    await expect(host.runCapability('billing.charge', { amount: 1 })).resolves.toEqual({
      charged: 1,
    });
    expect(counter.queries).toEqual([]);
    // The counter does see the queries a write makes, so the zero above means something.
    await host.configure('newsletter', { touched: true });
    expect(counter.queries.length).toBeGreaterThan(0);
    await app.close();
  });

  it('keeps every key when many configure calls race on one instance', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    await host.configure('mail', { race: null });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => host.configure('mail', { race: { [`k${i}`]: i } })),
    );
    const race = host.configValue<Record<string, number>>('mail', 'race')!;
    expect(Object.keys(race)).toHaveLength(50);
    await host.refresh();
    expect(Object.keys(host.configValue<Record<string, number>>('mail', 'race')!)).toHaveLength(50);
    await app.close();
  });

  it('keeps every key when two app instances configure the same plugin in parallel', async () => {
    const [a, b] = await Promise.all([boot(), boot()]);
    const hostA = a.get(PluginHostService);
    const hostB = b.get(PluginHostService);
    await hostA.configure('billing', { keys: null });
    const writes = [];
    for (let i = 0; i < 100; i++) {
      writes.push(hostA.configure('billing', { keys: { [`a${i}`]: i } }));
      writes.push(hostB.configure('billing', { keys: { [`b${i}`]: i } }));
    }
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    await hostA.refresh();
    await hostB.refresh();
    const keys = Object.keys(hostA.configValue<Record<string, number>>('billing', 'keys')!);
    expect(keys).toHaveLength(200);
    expect(hostB.get('billing')).toEqual(hostA.get('billing'));
    // Versions are dense: one per committed write (the reset plus 200 merges plus registration).
    expect(hostA.get('billing').version).toBe(202);
    await Promise.all([a.close(), b.close()]);
  });

  it('ends parallel toggles from two instances in the state of the last committed write', async () => {
    const [a, b] = await Promise.all([boot(), boot()]);
    const hostA = a.get(PluginHostService);
    const hostB = b.get(PluginHostService);
    const start = hostA.get('mail').version;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? hostA : hostB).toggle('mail')),
    );
    // Every flip committed exactly once, each on its own version.
    const versions = results.map((p) => p.version).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => start + i + 1));
    const last = results.find((p) => p.version === start + 20)!;
    await hostB.refresh();
    expect(hostB.get('mail').enabled).toBe(last.enabled);
    // 20 flips from the starting state leave it where it started.
    expect(last.enabled).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses a stale expectedVersion with nothing written', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const seen = host.get('mail');
    await host.configure('mail', { first: 1 }, { expectedVersion: seen.version });
    await expect(
      host.configure('mail', { second: 2 }, { expectedVersion: seen.version }),
    ).rejects.toMatchObject({ code: 'VERSION_CONFLICT', status: 412 });
    await host.refresh();
    expect(host.configValue('mail', 'second')).toBeUndefined();
    expect(host.configValue('mail', 'first')).toBe(1);
    await app.close();
  });
});
