import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginHostService, SECRET_MASK, type PluginAuditEntry } from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import {
  createPostgresDatabase,
  createSqliteDatabase,
  type TestDatabase,
} from '../src/databases.js';
import { VaultPlugin } from '../src/plugins.fixture.js';

const API = '/api/plugin-host';
const SETUPS = [
  ['memory', async () => undefined],
  ['sqlite', createSqliteDatabase],
  ['postgres', createPostgresDatabase],
] as const;

describe.each(SETUPS)('audit log on %s', (_name, createDatabase) => {
  let db: TestDatabase | undefined;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const page = async (query = '') => {
    const res = await http().get(`${API}/audit${query}`).set('x-user', 'alice');
    expect(res.status).toBe(200);
    return res.body as { items: PluginAuditEntry[]; nextCursor: string | null };
  };

  beforeAll(async () => {
    db = await createDatabase();
    app = await createTestApp({
      database: db?.options,
      providers: [...DEFAULT_PROVIDERS, VaultPlugin],
      host: {
        instanceId: 'instance-a',
        actor: (request: { headers: Record<string, string> }) => request.headers['x-user'],
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('records every change with when, who, what, before and after, secrets masked', async () => {
    const as = (req: request.Test) => req.set('x-user', 'alice');
    await as(http().post(`${API}/plugins`))
      .send({ slug: 'audited', nav: true })
      .expect(201);
    await as(http().post(`${API}/plugins/audited/toggle`))
      .send({ enabled: false })
      .expect(200);
    await as(http().post(`${API}/plugins/vault/configure`))
      .send({ apiKey: 'sk-123' })
      .expect(200);
    await as(http().patch(`${API}/plugins/audited`))
      .send({ labelEn: 'Audited' })
      .expect(200);
    await as(http().put(`${API}/nav/order`))
      .send({ slugs: ['audited', 'mail'] })
      .expect(200);
    await as(http().delete(`${API}/plugins/audited`)).expect(204);
    await app.get(PluginHostService).enable('mail'); // a no-op: nothing to record

    const { items } = await page('?limit=6');
    expect(items.map((e) => e.action)).toEqual([
      'remove',
      'reorder',
      'update',
      'configure',
      'toggle',
      'register',
    ]);
    for (const entry of items) {
      expect(entry).toMatchObject({ actor: 'alice', instance: 'instance-a' });
      expect(Date.parse(entry.at)).toBeGreaterThan(Date.now() - 60_000);
    }
    const [remove, reorder, update, configure, toggle, register] = items;
    expect(register).toMatchObject({
      slug: 'audited',
      before: null,
      after: { slug: 'audited', version: 1 },
    });
    expect(toggle.before).toMatchObject({ enabled: true });
    expect(toggle.after).toMatchObject({ enabled: false, version: 2 });
    expect(configure.after).toMatchObject({ config: { apiKey: SECRET_MASK } });
    expect(JSON.stringify(items)).not.toContain('sk-123');
    expect(update.after).toMatchObject({ labelEn: 'Audited' });
    expect((reorder.after as { order: string[] }).order.slice(0, 2)).toEqual(['audited', 'mail']);
    expect(remove).toMatchObject({ slug: 'audited', after: null, before: { slug: 'audited' } });
    // Ids increase, so they order the log and page it.
    const ids = items.map((e) => e.id);
    expect(ids).toEqual(ids.toSorted((a, b) => b - a));
  });

  it('pages with a cursor and filters by slug and action', async () => {
    const first = await page('?limit=2');
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await page(`?limit=2&cursor=${first.nextCursor}`);
    expect(second.items[0].id).toBeLessThan(first.items[1].id);
    const toggles = await page('?action=toggle&slug=audited');
    expect(toggles.items.length).toBeGreaterThan(0);
    expect(toggles.items.every((e) => e.action === 'toggle' && e.slug === 'audited')).toBe(true);
    const all: PluginAuditEntry[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const next = await page(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...next.items);
      cursor = next.nextCursor;
    }
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    // Boot registrations by code are recorded as the system.
    expect(
      all.filter((e) => e.action === 'register' && e.actor === 'system').length,
    ).toBeGreaterThan(0);
  });

  it('refuses bad queries with 400', async () => {
    for (const query of [
      '?limit=0',
      '?limit=501',
      '?limit=abc',
      '?cursor=-1',
      '?action=drop',
      '?slug=BAD',
    ]) {
      const res = await http().get(`${API}/audit${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('audit log access', () => {
  it('is closed by default like the mutating routes', async () => {
    const app = await createTestApp({ host: { allowAnonymous: false } });
    try {
      const res = await request(app.getHttpServer()).get(`${API}/audit`);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
    } finally {
      await app.close();
    }
  });
});

describe('audit rows share the change transaction', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPostgresDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('rolls the change back when its audit row cannot be written', async () => {
    const app = await createTestApp({ database: db.options, host: { syncIntervalMs: 0 } });
    const client = new Client({ connectionString: (db.options as { url: string }).url });
    await client.connect();
    try {
      await client.query('ALTER TABLE plugin_audit RENAME TO plugin_audit_gone');
      const res = await request(app.getHttpServer())
        .post(`${API}/plugins/mail/toggle`)
        .send({ enabled: false });
      expect(res.status).toBe(503);
      const row = await client.query("SELECT enabled, version FROM plugins WHERE slug = 'mail'");
      expect(row.rows[0]).toEqual({ enabled: true, version: 1 });
      expect(app.get(PluginHostService).isEnabled('mail')).toBe(true);
      await client.query('ALTER TABLE plugin_audit_gone RENAME TO plugin_audit');
      await request(app.getHttpServer()).post(`${API}/plugins/mail/toggle`).send({}).expect(200);
    } finally {
      await client.end();
      await app.close();
    }
  });
});
