import { Logger, type INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  PLUGIN_STORE,
  PluginHostService,
  type PluginChangeEvent,
  type PluginStore,
  type PluginHostModuleOptions,
} from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import {
  createMariaDatabase,
  createPostgresDatabase,
  createSqliteDatabase,
  type TestDatabase,
} from '../src/databases.js';
import { waitFor } from '../src/tcp-proxy.js';

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Setup {
  name: string;
  database: () => Promise<TestDatabase>;
  host: (channel: string) => PluginHostModuleOptions;
  push: boolean;
}

// Polling is off in the push setups, so a pass proves the push transport delivered the change.
const SETUPS: Setup[] = [
  {
    name: 'PostgreSQL LISTEN/NOTIFY',
    database: createPostgresDatabase,
    host: (syncChannel) => ({ syncIntervalMs: 0, syncChannel }),
    push: true,
  },
  {
    name: 'MariaDB + Redis pub/sub',
    database: createMariaDatabase,
    host: (syncChannel) => ({ syncIntervalMs: 0, redis: REDIS, syncChannel }),
    push: true,
  },
  {
    name: 'SQLite + polling',
    database: createSqliteDatabase,
    host: (syncChannel) => ({ syncIntervalMs: 50, syncChannel }),
    push: false,
  },
];

describe.each(SETUPS)('two instances over $name', ({ database, host, push }) => {
  let db: TestDatabase;
  let a: INestApplication;
  let b: INestApplication;
  let hostA: PluginHostService;
  let hostB: PluginHostService;
  const eventsOnB: PluginChangeEvent[] = [];

  beforeAll(async () => {
    db = await database();
    const channel = `nph_${Math.random().toString(36).slice(2, 10)}`;
    a = await createTestApp({ database: db.options, host: host(channel) });
    b = await createTestApp({ database: db.options, host: host(channel) });
    hostA = a.get(PluginHostService);
    hostB = b.get(PluginHostService);
    b.get(EventEmitter2).onAny((name: string | string[], event: PluginChangeEvent) => {
      if (String(name).startsWith('plugin-host.plugin.')) eventsOnB.push(event);
    });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await db?.drop();
  });
  afterEach(() => {
    eventsOnB.length = 0;
  });

  it('refuses on B a capability whose plugin A disabled, and runs it again once A enables it', async () => {
    await expect(hostB.runCapability('billing.charge', { amount: 1 })).resolves.toEqual({
      charged: 1,
    });
    const disabled = await hostA.disable('billing', { actor: 'alice' });
    await waitFor(() => !hostB.isEnabled('billing'));
    await expect(hostB.runCapability('billing.charge', { amount: 1 })).rejects.toMatchObject({
      code: 'PLUGIN_DISABLED',
    });
    expect(eventsOnB).toContainEqual(
      expect.objectContaining({
        action: 'disabled',
        slug: 'billing',
        origin: 'remote',
        after: expect.objectContaining({ version: disabled.version, enabled: false }),
      }),
    );
    await hostA.enable('billing');
    await waitFor(() => hostB.isEnabled('billing'));
  });

  it('takes a plugin removed and registered again while it missed the removal', async () => {
    await hostA.register({ slug: 'reborn', kind: 'feature', config: { n: 0 } });
    for (let n = 1; n <= 3; n++) await hostA.configure('reborn', { n });
    await waitFor(() => hostB.find('reborn')?.version === 4);
    // Straight through the store: no instance hears of it (a gap in the notices).
    const store = a.get<PluginStore>(PLUGIN_STORE);
    const old = (await store.get('reborn'))!;
    await store.delete('reborn');
    const now = new Date(old.createdAt.getTime() + 1_000);
    await store.insert({
      ...old,
      enabled: false,
      config: { fresh: true },
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    await hostB.refresh();
    expect(hostB.find('reborn')).toMatchObject({
      version: 1,
      enabled: false,
      config: { fresh: true },
    });
    // And B writes to it as it is now.
    await expect(hostB.configure('reborn', { n: 9 })).resolves.toMatchObject({ version: 2 });
  });

  it("shows A's configure in B's configValue, with the same version", async () => {
    const after = await hostA.configure('mail', { smtp: { host: 'mx.example.com' } });
    await waitFor(() => hostB.configValue('mail', 'smtp.host') === 'mx.example.com');
    expect(hostB.get('mail')).toEqual(after);
    expect(eventsOnB.filter((e) => e.action === 'configured' && e.slug === 'mail')).toHaveLength(1);
  });

  it('carries registrations, removals and reorders across', async () => {
    await hostA.register({ slug: 'carried', nav: true, labelEn: 'Carried' });
    await waitFor(() => hostB.find('carried') !== undefined);
    await hostA.reorder(['carried', 'mail', 'newsletter']);
    const order = hostA.nav().map((n) => n.slug);
    expect(order.slice(0, 3)).toEqual(['carried', 'mail', 'newsletter']);
    await waitFor(
      () =>
        hostB
          .nav()
          .map((n) => n.slug)
          .join() === order.join(),
    );
    await hostA.remove('carried');
    await waitFor(() => hostB.find('carried') === undefined);
    const actions = eventsOnB.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['registered', 'removed']));
    // A push notice names the reorder; polling only sees rows whose sort changed.
    expect(actions).toContain(push ? 'reordered' : 'updated');
  });

  it('applies each change once and in version order under a burst of writes', async () => {
    for (let i = 0; i < 30; i++) await hostA.configure('newsletter', { burst: i });
    await waitFor(() => hostB.configValue('newsletter', 'burst') === 29);
    const versions = eventsOnB.filter((e) => e.slug === 'newsletter').map((e) => e.after!.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(new Set(versions).size).toBe(versions.length);
    expect(hostB.get('newsletter').version).toBe(hostA.get('newsletter').version);
  });
});

describe('PostgreSQL listener reconnect', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPostgresDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('resubscribes after its connection is killed and picks up the change made during the gap', async () => {
    const channel = `nph_${Math.random().toString(36).slice(2, 10)}`;
    const options = { syncIntervalMs: 0, syncChannel: channel };
    const a = await createTestApp({ database: db.options, host: options });
    const b = await createTestApp({ database: db.options, host: options });
    try {
      const database = new URL(String((db.options as { url: string }).url)).pathname.slice(1);
      const admin = new Client({ connectionString: (db.options as { url: string }).url });
      await admin.connect();
      // Kill every listener of this database, then change state while they are gone.
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'nest-plugin-host listener'`,
        [database],
      );
      expect(killed.rowCount).toBe(2);
      await a.get(PluginHostService).disable('mail');
      await waitFor(() => !b.get(PluginHostService).isEnabled('mail'), 10_000);
      // And the new subscription delivers live changes again.
      await a.get(PluginHostService).enable('mail');
      await waitFor(() => b.get(PluginHostService).isEnabled('mail'), 2_000);
      const listeners = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nest-plugin-host listener'`,
        [database],
      );
      expect(listeners.rows[0].n).toBe(2);
      await admin.end();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('a full resync racing notices (PostgreSQL LISTEN/NOTIFY)', () => {
  let db: TestDatabase;
  let a: INestApplication;
  let b: INestApplication;
  beforeAll(async () => {
    db = await createPostgresDatabase();
    const host = {
      syncIntervalMs: 0,
      syncChannel: `nph_${Math.random().toString(36).slice(2, 10)}`,
    };
    a = await createTestApp({ database: db.options, host });
    b = await createTestApp({ database: db.options, host });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await db?.drop();
  });

  it('keeps what notices applied while the snapshot was on its way', async () => {
    const hostA = a.get(PluginHostService);
    const hostB = b.get(PluginHostService);
    await hostA.register({ slug: 'doomed' });
    await waitFor(() => hostB.find('doomed') !== undefined);
    // B's full read of the table is slow to arrive (a big table, a slow link).
    const store = b.get<PluginStore>(PLUGIN_STORE);
    const all = store.all.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let read = false;
    store.all = async () => {
      const rows = await all();
      read = true;
      await held;
      return rows;
    };
    try {
      const resync = hostB.refresh();
      await waitFor(() => read); // the snapshot is taken, not yet applied
      await hostA.register({ slug: 'newcomer' });
      await hostA.remove('doomed');
      await waitFor(() => hostB.find('newcomer') !== undefined && !hostB.find('doomed'));
      release();
      await resync;
    } finally {
      store.all = all;
    }
    expect({ newcomer: !!hostB.find('newcomer'), doomed: !!hostB.find('doomed') }).toEqual({
      newcomer: true,
      doomed: false,
    });
  });
});

describe('closing an instance while it applies notices (PostgreSQL LISTEN/NOTIFY)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPostgresDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('announces a commit a request finishes while the app closes', async () => {
    const host = {
      syncIntervalMs: 0,
      syncChannel: `nph_${Math.random().toString(36).slice(2, 10)}`,
    };
    const a: INestApplication = await createTestApp({ database: db.options, host });
    const b: INestApplication = await createTestApp({ database: db.options, host });
    try {
      await a.listen(0, '127.0.0.1');
      const url = await a.getUrl();
      const store = a.get<PluginStore>(PLUGIN_STORE);
      const write = store.write.bind(store);
      let writing = false;
      store.write = (async (...args: Parameters<typeof write>) => {
        writing = true;
        await new Promise((r) => setTimeout(r, 400)); // a slow commit
        return write(...args);
      }) as typeof store.write;
      const response = fetch(
        `${url.replace('[::1]', '127.0.0.1')}/api/plugin-host/plugins/mail/toggle`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify({ enabled: false }),
        },
      );
      await waitFor(() => writing);
      const closing = a.close(); // graceful: the HTTP server waits for the request
      const res = await response;
      expect(res.status).toBe(200);
      await closing;
      await waitFor(() => !b.get(PluginHostService).isEnabled('mail'), 3_000).catch(
        () => undefined,
      );
      expect(b.get(PluginHostService).isEnabled('mail')).toBe(false);
    } finally {
      await b.close();
    }
  });

  it('lets the work under way finish before the store closes: no store errors', async () => {
    const host = {
      syncIntervalMs: 0,
      syncChannel: `nph_${Math.random().toString(36).slice(2, 10)}`,
    };
    const a = await createTestApp({ database: db.options, host });
    const b = await createTestApp({ database: db.options, host });
    const logged: string[] = [];
    const record = (message: unknown) => void logged.push(String(message));
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(record);
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(record);
    try {
      // B's read of the record a notice names is slow: it is still under way when B closes.
      const store = b.get<PluginStore>(PLUGIN_STORE);
      const get = store.get.bind(store);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reading = false;
      store.get = async (slug) => {
        reading = true;
        await gate;
        return get(slug);
      };
      await a.get(PluginHostService).configure('mail', { n: 1 });
      await waitFor(() => reading);
      const closing = b.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      await closing;
      // Whatever the held read ends in is reported by now.
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      error.mockRestore();
      warn.mockRestore();
      await a.close();
    }
    expect(logged.filter((line) => /store operation failed|Could not apply/.test(line))).toEqual(
      [],
    );
  });
});
