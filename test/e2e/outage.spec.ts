import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryPluginStore, PluginHostService } from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import {
  createMariaDatabase,
  createPostgresDatabase,
  type TestDatabase,
} from '../src/databases.js';
import { TcpProxy, waitFor } from '../src/tcp-proxy.js';

const SERVERS = [
  ['postgres', createPostgresDatabase, 5432],
  ['mariadb', createMariaDatabase, 3306],
] as const;

describe.each(SERVERS)('database outage on %s', (_name, createDatabase, port) => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let direct: INestApplication;
  let cut: INestApplication;

  beforeAll(async () => {
    db = await createDatabase();
    proxy = new TcpProxy('127.0.0.1', port);
    const proxyPort = await proxy.start();
    const url = new URL(String((db.options as { url: string }).url));
    url.port = String(proxyPort);
    const channel = `nph_${Math.random().toString(36).slice(2, 10)}`;
    const host = { syncIntervalMs: 200, syncChannel: channel };
    direct = await createTestApp({ database: db.options, host });
    cut = await createTestApp({ database: { ...db.options, url: url.toString() } as never, host });
  });
  afterAll(async () => {
    await Promise.all([direct?.close(), cut?.close()]);
    await proxy?.stop();
    await db?.drop();
  });

  it('serves the last known state, refuses writes with 503, and resyncs by itself', async () => {
    const host = cut.get(PluginHostService);
    const http = () => request(cut.getHttpServer());
    const before = host.get('mail');
    await proxy.stop();

    // Reads and capability runs keep working from memory.
    await expect(host.runCapability('billing.charge', { amount: 2 })).resolves.toEqual({
      charged: 2,
    });
    expect(host.isEnabled('newsletter')).toBe(true);
    expect(host.list().length).toBeGreaterThan(0);
    expect((await http().get('/api/plugin-host/nav')).status).toBe(200);
    const run = await http()
      .post('/api/plugin-host/capabilities/mail.deliver/run')
      .send({ to: 'x' });
    expect(run.status).toBe(200);

    // Writes fail cleanly and change nothing in memory.
    const refused = await http()
      .post('/api/plugin-host/plugins/mail/toggle')
      .send({ enabled: false });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ statusCode: 503, code: 'STORE_UNAVAILABLE' });
    await expect(host.configure('mail', { x: 1 })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    expect(host.get('mail')).toBe(before);

    // Another instance changes state during the outage.
    await direct.get(PluginHostService).disable('newsletter');

    await proxy.start();
    await waitFor(() => !host.isEnabled('newsletter'), 15_000);
    await waitFor(
      async () =>
        (await http().post('/api/plugin-host/plugins/mail/toggle').send({})).status === 200,
      15_000,
    );
    await waitFor(() => !direct.get(PluginHostService).isEnabled('mail'), 5_000);
  });
});

describe('boot without a reachable store', () => {
  it('fails with a message naming the store and the cause', async () => {
    const store = new InMemoryPluginStore();
    store.all = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    await expect(createTestApp({ host: { store } })).rejects.toThrow(
      /could not load plugins from its store \(memory\): connect ECONNREFUSED/,
    );
  });
});

describe('app.close() while the PostgreSQL listener reconnects', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  beforeAll(async () => {
    db = await createPostgresDatabase();
    proxy = new TcpProxy('127.0.0.1', 5432);
  });
  afterAll(async () => {
    await proxy.stop();
    await db.drop();
  });

  it('leaves no listener connection behind', async () => {
    const url = new URL(db.url);
    url.port = String(await proxy.start());
    const app = await createTestApp({
      database: { ...db.options, url: url.toString() } as typeof db.options,
      host: { syncIntervalMs: 0 },
    });
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    const LISTENERS = `FROM pg_stat_activity
      WHERE datname = $1 AND application_name = 'nest-plugin-host listener'`;
    const listeners = async () =>
      (await admin.query(`SELECT count(*)::int AS n ${LISTENERS}`, [db.name])).rows[0].n;
    try {
      expect(await listeners()).toBe(1);
      proxy.hold();
      await admin.query(`SELECT pg_terminate_backend(pid) ${LISTENERS}`, [db.name]);
      // The listener's reconnect now waits on a database slow to answer.
      await waitFor(async () => (await listeners()) === 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await app.close();
      proxy.release();
      // Long enough for the held reconnect to finish and LISTEN, had it gone on.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(await listeners()).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('Redis unreachable when an instance boots', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let a: INestApplication;
  let b: INestApplication;
  beforeAll(async () => {
    db = await createMariaDatabase();
    proxy = new TcpProxy('127.0.0.1', 6379);
    const port = await proxy.start();
    await proxy.stop(); // refused until the test starts it again
    const syncChannel = `nph_${Math.random().toString(36).slice(2, 10)}`;
    const host = (redis: string) => ({ syncIntervalMs: 0, redis, syncChannel });
    a = await createTestApp({ database: db.options, host: host('redis://127.0.0.1:6379') });
    b = await createTestApp({ database: db.options, host: host(`redis://127.0.0.1:${port}`) });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await proxy.stop();
    await db.drop();
  });

  it('subscribes once Redis is back, and catches up on what it missed', async () => {
    const hostA = a.get(PluginHostService);
    const hostB = b.get(PluginHostService);
    // Missed while Redis was unreachable (no polling here: syncIntervalMs is 0).
    await hostA.configure('mail', { missed: true });
    await proxy.start();
    await waitFor(() => hostB.configValue('mail', 'missed') === true, 10_000);
    expect(hostB.get('mail').version).toBe(hostA.get('mail').version);
    // And live from now on.
    await hostA.disable('billing');
    await waitFor(() => !hostB.isEnabled('billing'), 5_000);
    expect(hostB.isEnabled('billing')).toBe(false);
  }, 20_000);
});
