import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  PLUGIN_STORE,
  PluginHostService,
  PluginNavOrderConflictError,
  type PluginStore,
} from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';
import { expectError } from '../src/http-assertions.js';

const API = '/api/plugin-host';
const WEAK_ETAG = /^W\/"[A-Za-z0-9_-]{16}"$/;

describe('navigation ETag and If-Match', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const etag = async () => (await http().get(`${API}/nav`).expect(200)).headers.etag as string;
  const order = async () =>
    ((await http().get(`${API}/plugins`)).body as Array<{ slug: string }>).map((p) => p.slug);
  const navSlugs = async () =>
    ((await http().get(`${API}/nav`)).body as Array<{ slug: string }>).map((i) => i.slug);

  beforeEach(async () => {
    app = await createTestApp();
  });
  afterEach(() => app?.close());

  it('GET /nav carries a weak ETag of the order, the same in every language', async () => {
    const en = await http().get(`${API}/nav`);
    const ar = await http().get(`${API}/nav?lang=ar`);
    expect(en.headers.etag).toMatch(WEAK_ETAG);
    expect(ar.headers.etag).toBe(en.headers.etag);
    expect(en.headers.etag).toBe(`W/"${app.get(PluginHostService).navFingerprint()}"`);
  });

  it('PUT /nav/order answers the new ETag, which GET /nav then carries', async () => {
    const before = await etag();
    const res = await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['mail', 'newsletter'] });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toMatch(WEAK_ETAG);
    expect(res.headers.etag).not.toBe(before);
    expect(await etag()).toBe(res.headers.etag);
  });

  it('writes with a current If-Match (and with *)', async () => {
    const res = await http()
      .put(`${API}/nav/order`)
      .set('If-Match', await etag())
      .send({ slugs: ['mail', 'newsletter'] });
    expect(res.status).toBe(200);
    expect(await navSlugs()).toEqual(['mail', 'newsletter']);
    const any = await http()
      .put(`${API}/nav/order`)
      .set('If-Match', '*')
      .send({ slugs: ['newsletter'] });
    expect(any.status).toBe(200);
    expect(await navSlugs()).toEqual(['newsletter', 'mail']);
  });

  it('refuses the second of two admins reordering from the same read with 412, writing nothing', async () => {
    const seen = await etag();
    await http()
      .put(`${API}/nav/order`)
      .set('If-Match', seen)
      .send({ slugs: ['mail', 'newsletter'] })
      .expect(200);
    const winner = await order();
    const audited = (await http().get(`${API}/audit`)).body.items.length;
    const res = await http()
      .put(`${API}/nav/order`)
      .set('If-Match', seen)
      .send({ slugs: ['newsletter', 'mail', 'ops'] });
    expectError(res, 412, 'VERSION_CONFLICT');
    expect(res.headers.etag).toBe(await etag());
    expect(res.body).not.toHaveProperty('currentVersion');
    expect(await order()).toEqual(winner);
    expect((await http().get(`${API}/audit`)).body.items).toHaveLength(audited);
    // Reloaded, the same order goes through.
    await http()
      .put(`${API}/nav/order`)
      .set('If-Match', res.headers.etag)
      .send({ slugs: ['newsletter', 'mail', 'ops'] })
      .expect(200);
    expect(await navSlugs()).toEqual(['newsletter', 'mail']);
  });

  it('refuses a stale If-Match even when the order was put back (A-B-A)', async () => {
    const seen = await etag();
    await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['mail', 'newsletter'] })
      .expect(200);
    await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['newsletter', 'mail'] })
      .expect(200);
    const res = await http()
      .put(`${API}/nav/order`)
      .set('If-Match', seen)
      .send({ slugs: ['mail'] });
    expectError(res, 412, 'VERSION_CONFLICT');
  });

  it('changes with a plugin in the navigation, not with one outside it', async () => {
    const first = await etag();
    expect(first).toMatch(WEAK_ETAG);
    await http().post(`${API}/plugins/billing/configure`).send({ currency: 'EUR' }).expect(200);
    expect(await etag()).toBe(first);
    await http().patch(`${API}/plugins/mail`).send({ labelEn: 'Post' }).expect(200);
    const second = await etag();
    expect(second).not.toBe(first);
    await http().post(`${API}/plugins/mail/toggle`).send({ enabled: false }).expect(200);
    const third = await etag();
    expect(third).not.toBe(second);
    // A disabled plugin is not in GET /nav, but still in the order an admin rearranges.
    const body = (await http().get(`${API}/nav`)).text;
    await http().patch(`${API}/plugins/mail`).send({ sort: 25 }).expect(200);
    const fourth = await http().get(`${API}/nav`);
    expect(fourth.text).toBe(body);
    expect(fourth.headers.etag).not.toBe(third);
  });

  it('without If-Match, reorders as before', async () => {
    await etag();
    await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['mail'] })
      .expect(200);
    const res = await http()
      .put(`${API}/nav/order`)
      .send({ slugs: ['newsletter'] });
    expect(res.status).toBe(200);
    expect(await navSlugs()).toEqual(['newsletter', 'mail']);
  });

  it('answers 400 VALIDATION_FAILED for a malformed If-Match and writes nothing', async () => {
    const before = await order();
    for (const garbage of ['W/"a b"', '"abc', 'W/', '"' + 'x'.repeat(65) + '"', 'a,b']) {
      const res = await http()
        .put(`${API}/nav/order`)
        .set('If-Match', garbage)
        .send({ slugs: ['mail'] });
      expectError(res, 400, 'VALIDATION_FAILED');
    }
    expect(await order()).toEqual(before);
  });

  it('reorder() keeps its signature, and refuses a stale expectedNavFingerprint in code', async () => {
    const host = app.get(PluginHostService);
    const seen = host.navFingerprint();
    await host.reorder(['mail', 'newsletter']);
    await host.reorder(['newsletter'], { actor: 'ops' });
    const stale = host.reorder(['mail'], { expectedNavFingerprint: seen, actor: 'ops' });
    await expect(stale).rejects.toBeInstanceOf(PluginNavOrderConflictError);
    await expect(stale).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
      status: 412,
      expectedFingerprint: seen,
      actualFingerprint: host.navFingerprint(),
    });
    expect(host.nav().map((i) => i.slug)).toEqual(['newsletter', 'mail']);
    await host.reorder(['mail'], { expectedNavFingerprint: host.navFingerprint() });
    expect(host.nav().map((i) => i.slug)).toEqual(['mail', 'newsletter']);
  });
});

describe.each(DATABASES)('navigation If-Match across instances on %s', (_, create) => {
  let db: TestDatabase;
  let a: INestApplication;
  let b: INestApplication;

  beforeAll(async () => {
    db = await create();
    // No propagation at all: B's memory stays behind A's writes.
    const host = { syncIntervalMs: 0, notify: false };
    a = await createTestApp({ database: db.options, host });
    b = await createTestApp({ database: db.options, host });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await db?.drop();
  });

  it("checks If-Match against the store, not an instance's stale copy", async () => {
    const seenOnB = (await request(b.getHttpServer()).get(`${API}/nav`)).headers.etag;
    await request(a.getHttpServer())
      .put(`${API}/nav/order`)
      .send({ slugs: ['mail', 'newsletter'] })
      .expect(200);
    // B has not heard of it: its GET /nav still answers the old order and ETag.
    expect((await request(b.getHttpServer()).get(`${API}/nav`)).headers.etag).toBe(seenOnB);
    const res = await request(b.getHttpServer())
      .put(`${API}/nav/order`)
      .set('If-Match', seenOnB)
      .send({ slugs: ['newsletter', 'mail'] });
    expectError(res, 412, 'VERSION_CONFLICT');
    const onA = await request(a.getHttpServer()).get(`${API}/nav`);
    expect(onA.body.map((i: { slug: string }) => i.slug)).toEqual(['mail', 'newsletter']);
    expect(res.headers.etag).toBe(onA.headers.etag);
  });

  it('lets one of two reorders from the same read through when they move different entries', async () => {
    const http = (app: INestApplication) => request(app.getHttpServer());
    for (const [i, slug] of ['n1', 'n2', 'n3', 'n4'].entries()) {
      await http(a)
        .post(`${API}/plugins`)
        .send({ slug, nav: true, sort: -100 + i })
        .expect(201);
    }
    await http(a)
      .put(`${API}/nav/order`)
      .send({ slugs: ['n1', 'n2', 'n3', 'n4'] })
      .expect(200);
    const etag = (await http(a).get(`${API}/nav`)).headers.etag;
    // B passes its If-Match check, then its write waits until A's conditional reorder, which moves
    // other entries, has committed: the two would interleave that way in a real race.
    const storeOfB = b.get<PluginStore>(PLUGIN_STORE);
    const write = storeOfB.write.bind(storeOfB);
    let release!: () => void;
    const aDone = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    storeOfB.write = async (...args) => {
      if (!held) {
        held = true;
        await aDone;
      }
      return write(...args);
    };
    try {
      const onB = http(b)
        .put(`${API}/nav/order`)
        .set('If-Match', etag)
        .send({ slugs: ['n1', 'n2', 'n4', 'n3'] })
        .then((res) => res);
      await waitUntil(() => held);
      const onA = await http(a)
        .put(`${API}/nav/order`)
        .set('If-Match', etag)
        .send({ slugs: ['n2', 'n1', 'n3', 'n4'] });
      release();
      expect(onA.status).toBe(200);
      expectError(await onB, 412, 'VERSION_CONFLICT');
    } finally {
      storeOfB.write = write;
    }
    const nav = (await http(a).get(`${API}/nav`)).body.map((i: { slug: string }) => i.slug);
    expect(nav.slice(0, 4)).toEqual(['n2', 'n1', 'n3', 'n4']);
  });

  it('refuses a stale If-Match on an instance that would write no row at all', async () => {
    const seenOnB = (await request(b.getHttpServer()).get(`${API}/nav`)).headers.etag;
    await request(a.getHttpServer())
      .patch(`${API}/plugins/mail`)
      .send({ labelEn: 'Post' })
      .expect(200);
    // Already B's order: from B's copy, nothing to write, so no row's version is compared.
    const res = await request(b.getHttpServer())
      .put(`${API}/nav/order`)
      .set('If-Match', seenOnB)
      .send({ slugs: ['mail', 'newsletter'] });
    expectError(res, 412, 'VERSION_CONFLICT');
    expect(res.headers.etag).toBe(
      (await request(a.getHttpServer()).get(`${API}/nav`)).headers.etag,
    );
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
