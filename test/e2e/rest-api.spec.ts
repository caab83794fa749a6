import {
  Injectable,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PluginHostService, type PluginHostModuleForRootOptions } from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import { expectError, STORE_SETUPS, PLUGIN_FIELDS } from '../src/http-assertions.js';

const BASE = '/api/plugin-host';

/** Order of the fixture plugins at boot: sort 0 (analytics, billing, ops by slug), then 10, 20. */
const BOOT_ORDER = ['analytics', 'billing', 'ops', 'newsletter', 'mail'];

/** Passes only when the request carries `x-admin: yes`. */
@Injectable()
class AdminHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined> }>();
    return req.headers['x-admin'] === 'yes';
  }
}

describe.each(STORE_SETUPS)('REST API on $name', ({ sqlite }) => {
  const opened: Array<{ app: INestApplication; dir?: string }> = [];

  async function boot(host?: PluginHostModuleForRootOptions): Promise<INestApplication> {
    let database: TypeOrmModuleOptions | undefined;
    let dir: string | undefined;
    if (sqlite) {
      dir = mkdtempSync(join(tmpdir(), 'plugin-host-rest-'));
      database = { type: 'better-sqlite3', database: join(dir, 'plugins.db'), synchronize: true };
    }
    const app = await createTestApp({ database, host });
    opened.push({ app, dir });
    if (dir && !existsSync(join(dir, 'plugins.db'))) throw new Error('SQLite file was not created');
    return app;
  }

  afterEach(async () => {
    for (const { app, dir } of opened.splice(0)) {
      await app.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const plugins = async () => (await http().get(`${BASE}/plugins`).expect(200)).body;
  const plugin = async (slug: string) => (await http().get(`${BASE}/plugins/${slug}`)).body;

  describe('with allowAnonymous', () => {
    beforeEach(async () => {
      app = await boot();
    });

    describe('GET /plugins', () => {
      it('lists every plugin sorted by sort, then slug', async () => {
        const res = await http().get(`${BASE}/plugins`);
        expect(res.status).toBe(200);
        expect(res.body.map((p: { slug: string }) => p.slug)).toEqual(BOOT_ORDER);
        expect(res.body.map((p: { sort: number }) => p.sort)).toEqual([0, 0, 0, 10, 20]);
      });

      it('re-sorts after a sort change', async () => {
        await http().patch(`${BASE}/plugins/mail`).send({ sort: 5 }).expect(200);
        await http().patch(`${BASE}/plugins/analytics`).send({ sort: 5 }).expect(200);
        const slugs = (await plugins()).map((p: { slug: string }) => p.slug);
        expect(slugs).toEqual(['billing', 'ops', 'analytics', 'mail', 'newsletter']);
      });

      it('answers each plugin with exactly the camelCase entity fields', async () => {
        for (const p of await plugins()) {
          expect(Object.keys(p).sort()).toEqual(PLUGIN_FIELDS);
        }
      });
    });

    describe('GET /plugins/:slug', () => {
      it('answers one plugin with its config and an ETag of its version', async () => {
        const res = await http().get(`${BASE}/plugins/newsletter`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          slug: 'newsletter',
          kind: 'capability',
          enabled: true,
          config: { from: 'news@example.com' },
          nav: true,
          sort: 10,
          labelEn: 'Newsletter',
          labelAr: 'النشرة الإخبارية',
          version: 1,
        });
        expect(res.headers.etag).toBe('"1"');
      });

      it('changes the ETag when the plugin changes', async () => {
        await http().post(`${BASE}/plugins/mail/toggle`).expect(200);
        const res = await http().get(`${BASE}/plugins/mail`);
        expect(res.body.version).toBe(2);
        expect(res.headers.etag).toBe('"2"');
      });

      it('answers 404 PLUGIN_NOT_FOUND for an unknown slug', async () => {
        expectError(await http().get(`${BASE}/plugins/nope`), 404, 'PLUGIN_NOT_FOUND');
      });
    });

    describe('POST /plugins', () => {
      it('hosts a new plugin (201) that GET then returns', async () => {
        const body = {
          slug: 'beta',
          kind: 'feature',
          enabled: false,
          nav: true,
          sort: 5,
          labelEn: 'Beta',
          labelAr: 'تجريبي',
          config: { flags: { a: 1 } },
        };
        const res = await http().post(`${BASE}/plugins`).send(body);
        expect(res.status).toBe(201);
        expect(res.body).toMatchObject({ ...body, version: 1 });
        expect(Object.keys(res.body).sort()).toEqual(PLUGIN_FIELDS);
        expect(await plugin('beta')).toMatchObject(body);
        expect((await plugins()).map((p: { slug: string }) => p.slug)).toContain('beta');
      });

      it('fills in the defaults for omitted fields', async () => {
        const res = await http().post(`${BASE}/plugins`).send({ slug: 'plain' });
        expect(res.status).toBe(201);
        expect(res.body).toMatchObject({
          slug: 'plain',
          kind: 'capability',
          enabled: true,
          config: {},
          nav: false,
          sort: 0,
          labelEn: null,
          labelAr: null,
        });
      });

      it('answers 409 PLUGIN_EXISTS for a taken slug and keeps the existing record', async () => {
        await http().post(`${BASE}/plugins`).send({ slug: 'beta', labelEn: 'First' }).expect(201);
        const before = await plugins();
        const res = await http().post(`${BASE}/plugins`).send({ slug: 'beta', labelEn: 'Second' });
        expectError(res, 409, 'PLUGIN_EXISTS');
        expect((await plugin('beta')).labelEn).toBe('First');
        expect(await plugins()).toEqual(before);
      });

      it('answers 409 PLUGIN_EXISTS for a plugin hosted by code', async () => {
        const before = await plugins();
        expectError(
          await http().post(`${BASE}/plugins`).send({ slug: 'newsletter' }),
          409,
          'PLUGIN_EXISTS',
        );
        expect(await plugins()).toEqual(before);
      });
    });

    describe('PATCH /plugins/:slug', () => {
      it('changes kind, nav, sort and labels and bumps the version', async () => {
        const changes = {
          kind: 'integration',
          nav: false,
          sort: 42,
          labelEn: 'Post',
          labelAr: null,
        };
        const res = await http().patch(`${BASE}/plugins/newsletter`).send(changes);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ ...changes, slug: 'newsletter', version: 2 });
        expect(res.body.config).toEqual({ from: 'news@example.com' });
        expect(await plugin('newsletter')).toMatchObject({ ...changes, version: 2 });
      });

      it('leaves fields it was not given alone', async () => {
        await http().patch(`${BASE}/plugins/mail`).send({ labelAr: 'البريد' }).expect(200);
        expect(await plugin('mail')).toMatchObject({
          labelAr: 'البريد',
          labelEn: 'Mail',
          sort: 20,
          nav: true,
          enabled: true,
        });
      });

      it('answers 404 PLUGIN_NOT_FOUND for an unknown slug', async () => {
        const before = await plugins();
        expectError(
          await http().patch(`${BASE}/plugins/ghost`).send({ labelEn: 'Ghost' }),
          404,
          'PLUGIN_NOT_FOUND',
        );
        expect(await plugins()).toEqual(before);
      });
    });

    describe('DELETE /plugins/:slug', () => {
      it('removes a plugin (204, empty body); GET and a second DELETE then answer 404', async () => {
        await http().post(`${BASE}/plugins`).send({ slug: 'temp' }).expect(201);
        const res = await http().delete(`${BASE}/plugins/temp`);
        expect(res.status).toBe(204);
        expect(res.text).toBe('');
        expectError(await http().get(`${BASE}/plugins/temp`), 404, 'PLUGIN_NOT_FOUND');
        expectError(await http().delete(`${BASE}/plugins/temp`), 404, 'PLUGIN_NOT_FOUND');
        expect((await plugins()).map((p: { slug: string }) => p.slug)).toEqual(BOOT_ORDER);
      });

      it('answers 409 PLUGIN_IN_USE for a plugin that owns capabilities and keeps it', async () => {
        const before = await plugins();
        const res = await http().delete(`${BASE}/plugins/newsletter`);
        expectError(res, 409, 'PLUGIN_IN_USE');
        expect(res.body.message).toContain('newsletter');
        expect(await plugins()).toEqual(before);
        await http().get(`${BASE}/plugins/newsletter`).expect(200);
      });
    });

    describe('POST /plugins/:slug/toggle', () => {
      it('flips enabled when the body is absent', async () => {
        const off = await http().post(`${BASE}/plugins/mail/toggle`);
        expect(off.status).toBe(200);
        expect(off.body).toMatchObject({ slug: 'mail', enabled: false, version: 2 });
        expect((await plugin('mail')).enabled).toBe(false);
        const on = await http().post(`${BASE}/plugins/mail/toggle`);
        expect(on.status).toBe(200);
        expect(on.body).toMatchObject({ slug: 'mail', enabled: true, version: 3 });
        expect((await plugin('mail')).enabled).toBe(true);
      });

      it('flips enabled on an empty JSON object', async () => {
        const res = await http().post(`${BASE}/plugins/mail/toggle`).send({});
        expect(res.status).toBe(200);
        expect(res.body.enabled).toBe(false);
      });

      it('sets enabled to the given value instead of flipping', async () => {
        const first = await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false });
        expect(first.status).toBe(200);
        expect(first.body.enabled).toBe(false);
        const second = await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false });
        expect(second.status).toBe(200);
        expect(second.body.enabled).toBe(false);
        const third = await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: true });
        expect(third.body.enabled).toBe(true);
        expect((await plugin('mail')).enabled).toBe(true);
      });

      it('answers 404 PLUGIN_NOT_FOUND for an unknown slug', async () => {
        const before = await plugins();
        expectError(await http().post(`${BASE}/plugins/ghost/toggle`), 404, 'PLUGIN_NOT_FOUND');
        expect(await plugins()).toEqual(before);
      });
    });

    describe('POST /plugins/:slug/configure', () => {
      it('merges nested objects, deletes keys set to null and replaces arrays', async () => {
        const first = await http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .send({ smtp: { host: 'smtp.local', port: 25, tls: { on: true } }, tags: ['a', 'b'] });
        expect(first.status).toBe(200);
        expect(first.body.config).toEqual({
          from: 'news@example.com',
          smtp: { host: 'smtp.local', port: 25, tls: { on: true } },
          tags: ['a', 'b'],
        });

        const second = await http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .send({ smtp: { port: 587, tls: { on: null } }, tags: ['c'], from: null });
        expect(second.status).toBe(200);
        const expected = { smtp: { host: 'smtp.local', port: 587, tls: {} }, tags: ['c'] };
        expect(second.body.config).toEqual(expected);
        expect(second.body.version).toBe(3);
        expect((await plugin('newsletter')).config).toEqual(expected);
      });

      it('replaces an object with a scalar and a scalar with an object', async () => {
        await http()
          .post(`${BASE}/plugins/mail/configure`)
          .send({ a: { b: 1 }, c: 2 })
          .expect(200);
        const res = await http()
          .post(`${BASE}/plugins/mail/configure`)
          .send({ a: 'flat', c: { d: [1, { e: null }] } });
        expect(res.body.config).toEqual({ a: 'flat', c: { d: [1, { e: null }] } });
      });

      it('hands the new config to the capabilities at once', async () => {
        await http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .send({ from: 'editor@example.com' })
          .expect(200);
        const res = await http()
          .post(`${BASE}/capabilities/newsletter.send/run`)
          .send({ subject: 'hi' });
        expect(res.status).toBe(200);
        expect(res.body.output.from).toBe('editor@example.com');
      });

      it('answers 404 PLUGIN_NOT_FOUND for an unknown slug', async () => {
        const before = await plugins();
        expectError(
          await http().post(`${BASE}/plugins/ghost/configure`).send({ a: 1 }),
          404,
          'PLUGIN_NOT_FOUND',
        );
        expect(await plugins()).toEqual(before);
      });
    });

    describe('PUT /nav/order', () => {
      it('rewrites sort so GET /nav and GET /plugins follow the new order', async () => {
        const res = await http()
          .put(`${BASE}/nav/order`)
          .send({ slugs: ['mail', 'newsletter'] });
        expect(res.status).toBe(200);
        const nav = (await http().get(`${BASE}/nav`).expect(200)).body;
        expect(nav.map((i: { slug: string }) => i.slug)).toEqual(['mail', 'newsletter']);
        const all = await plugins();
        expect(all.map((p: { slug: string }) => p.slug)).toEqual([
          'mail',
          'newsletter',
          'analytics',
          'billing',
          'ops',
        ]);
        const sorts = all.map((p: { sort: number }) => p.sort);
        expect(sorts).toEqual([...sorts].sort((a: number, b: number) => a - b));
        expect(new Set(sorts).size).toBe(sorts.length);
      });

      it('answers 404 PLUGIN_NOT_FOUND for an unknown slug and changes nothing', async () => {
        const before = await plugins();
        const res = await http()
          .put(`${BASE}/nav/order`)
          .send({ slugs: ['mail', 'ghost', 'newsletter'] });
        expectError(res, 404, 'PLUGIN_NOT_FOUND');
        expect(res.body.message).toContain('ghost');
        expect(await plugins()).toEqual(before);
        const nav = (await http().get(`${BASE}/nav`)).body;
        expect(nav.map((i: { slug: string }) => i.slug)).toEqual(['newsletter', 'mail']);
      });

      it('answers 400 VALIDATION_FAILED for a duplicate slug and changes nothing', async () => {
        const before = await plugins();
        const res = await http()
          .put(`${BASE}/nav/order`)
          .send({ slugs: ['mail', 'newsletter', 'mail'] });
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(await plugins()).toEqual(before);
      });
    });

    describe('GET /nav', () => {
      it('lists enabled nav plugins in sort order with English labels, left to right', async () => {
        const res = await http().get(`${BASE}/nav`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual([
          { slug: 'newsletter', label: 'Newsletter', dir: 'ltr', sort: 10 },
          { slug: 'mail', label: 'Mail', dir: 'ltr', sort: 20 },
        ]);
        const en = await http().get(`${BASE}/nav?lang=en`);
        expect(en.body).toEqual(res.body);
      });

      it('answers Arabic labels right to left for lang=ar, falling back to English', async () => {
        const res = await http().get(`${BASE}/nav?lang=ar`);
        expect(res.status).toBe(200);
        expect(res.body).toHaveLength(2);
        expect(res.body[0]).toMatchObject({
          slug: 'newsletter',
          label: 'النشرة الإخبارية',
          dir: 'rtl',
        });
        expect(res.body[1]).toMatchObject({ slug: 'mail', label: 'Mail' });
      });

      it('falls back to the slug when a plugin has no labels', async () => {
        await http()
          .post(`${BASE}/plugins`)
          .send({ slug: 'bare', nav: true, sort: 30 })
          .expect(201);
        for (const lang of ['en', 'ar']) {
          const nav = (await http().get(`${BASE}/nav?lang=${lang}`)).body;
          expect(nav.map((i: { slug: string }) => i.slug)).toEqual(['newsletter', 'mail', 'bare']);
          expect(nav[2].label).toBe('bare');
        }
      });

      it('falls back to English then slug after labels are cleared', async () => {
        await http().patch(`${BASE}/plugins/newsletter`).send({ labelAr: null }).expect(200);
        let nav = (await http().get(`${BASE}/nav?lang=ar`)).body;
        expect(nav[0]).toMatchObject({ slug: 'newsletter', label: 'Newsletter' });
        await http().patch(`${BASE}/plugins/newsletter`).send({ labelEn: null }).expect(200);
        nav = (await http().get(`${BASE}/nav?lang=ar`)).body;
        expect(nav[0]).toMatchObject({ slug: 'newsletter', label: 'newsletter' });
      });

      it('leaves out disabled plugins and plugins with nav off', async () => {
        await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false }).expect(200);
        await http().post(`${BASE}/plugins`).send({ slug: 'hidden', nav: false }).expect(201);
        const nav = (await http().get(`${BASE}/nav`)).body;
        expect(nav.map((i: { slug: string }) => i.slug)).toEqual(['newsletter']);
      });
    });

    describe('GET /dashboard', () => {
      it('answers plugins, nav, capabilities and counts', async () => {
        const res = await http().get(`${BASE}/dashboard`);
        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual([
          'capabilities',
          'counts',
          'forcedDisabled',
          'nav',
          'plugins',
        ]);
        expect(res.body.forcedDisabled).toEqual([]);
        expect(res.body.counts).toEqual({ total: 5, enabled: 5 });
        expect(res.body.plugins).toEqual(await plugins());
        expect(res.body.nav).toEqual((await http().get(`${BASE}/nav`)).body);
        expect(res.body.capabilities).toEqual((await http().get(`${BASE}/capabilities`)).body);
      });

      it('counts follow registrations and toggles', async () => {
        await http().post(`${BASE}/plugins/mail/toggle`).expect(200);
        await http().post(`${BASE}/plugins`).send({ slug: 'beta', enabled: false }).expect(201);
        await http().post(`${BASE}/plugins`).send({ slug: 'gamma' }).expect(201);
        const res = await http().get(`${BASE}/dashboard`);
        expect(res.body.counts).toEqual({ total: 7, enabled: 5 });
        expect(res.body.plugins).toHaveLength(7);
      });
    });

    describe('GET /capabilities', () => {
      it('lists every capability sorted by slug with owner, enabled flag and description', async () => {
        const res = await http().get(`${BASE}/capabilities`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual([
          {
            slug: 'billing.charge',
            plugin: 'billing',
            enabled: true,
            description: 'Charges a card',
          },
          { slug: 'mail.deliver', plugin: 'mail', enabled: true },
          { slug: 'newsletter.echo', plugin: 'newsletter', enabled: true },
          { slug: 'newsletter.fail', plugin: 'newsletter', enabled: true },
          { slug: 'newsletter.loop', plugin: 'newsletter', enabled: true },
          {
            slug: 'newsletter.send',
            plugin: 'newsletter',
            enabled: true,
            description: 'Queues a newsletter',
          },
          { slug: 'newsletter.teapot', plugin: 'newsletter', enabled: true },
          { slug: 'ops.ping', plugin: 'ops', enabled: true },
          { slug: 'reports.daily', plugin: 'analytics', enabled: true },
        ]);
      });

      it('reports enabled: false for the capabilities of a disabled plugin', async () => {
        await http().post(`${BASE}/plugins/newsletter/toggle`).send({ enabled: false });
        const caps: Array<{ slug: string; enabled: boolean }> = (
          await http().get(`${BASE}/capabilities`)
        ).body;
        for (const cap of caps) {
          expect(cap.enabled, cap.slug).toBe(!cap.slug.startsWith('newsletter.'));
        }
      });
    });

    describe('POST /capabilities/:slug/run', () => {
      it('answers 200 { output } with the capability result', async () => {
        const res = await http()
          .post(`${BASE}/capabilities/billing.charge/run`)
          .send({ amount: 12 });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ output: { charged: 12 } });
      });

      it('runs a capability owned through the plugin option', async () => {
        const res = await http().post(`${BASE}/capabilities/reports.daily/run`).send({});
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ output: { rows: 3 } });
      });

      it('passes the input and the capability slug through', async () => {
        const res = await http()
          .post(`${BASE}/capabilities/newsletter.echo/run`)
          .send({ a: [1, 2], b: { c: 'd' } });
        expect(res.status).toBe(200);
        expect(res.body.output).toMatchObject({
          input: { a: [1, 2], b: { c: 'd' } },
          slug: 'newsletter.echo',
          depth: 0,
        });
      });

      it('chains to another plugin capability through ctx.run', async () => {
        const res = await http()
          .post(`${BASE}/capabilities/newsletter.send/run`)
          .send({ subject: 'Hello' });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          output: {
            queued: true,
            from: 'news@example.com',
            subject: 'Hello',
            mail: { sent: true, to: 'all' },
          },
        });
      });

      it('answers 409 PLUGIN_DISABLED while the owner is disabled, and runs again once enabled', async () => {
        await http().post(`${BASE}/plugins/billing/toggle`).send({ enabled: false }).expect(200);
        const refused = await http()
          .post(`${BASE}/capabilities/billing.charge/run`)
          .send({ amount: 1 });
        expectError(refused, 409, 'PLUGIN_DISABLED');
        expect(refused.body.message).toContain('billing');
        await http().post(`${BASE}/plugins/billing/toggle`).send({ enabled: true }).expect(200);
        const res = await http()
          .post(`${BASE}/capabilities/billing.charge/run`)
          .send({ amount: 1 });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ output: { charged: 1 } });
      });

      it('answers 409 PLUGIN_DISABLED when the inner capability plugin is disabled', async () => {
        await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false }).expect(200);
        const res = await http()
          .post(`${BASE}/capabilities/newsletter.send/run`)
          .send({ subject: 'x' });
        expectError(res, 409, 'PLUGIN_DISABLED');
        expect(res.body.message).toContain('mail');
      });

      it('answers 404 CAPABILITY_NOT_FOUND for an unknown capability', async () => {
        const res = await http().post(`${BASE}/capabilities/nope.nothing/run`).send({});
        expectError(res, 404, 'CAPABILITY_NOT_FOUND');
        expect(res.body.message).toContain('nope.nothing');
      });

      it('answers 500 CAPABILITY_FAILED with a correlation id and no internal detail', async () => {
        const res = await http().post(`${BASE}/capabilities/newsletter.fail/run`).send({});
        expectError(res, 500, 'CAPABILITY_FAILED');
        expect(res.body.correlationId).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.text).not.toContain('hunter2');
        expect(res.text).not.toContain('database password');
        expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
        expect(res.body).not.toHaveProperty('stack');
      });

      it('gives each failure its own correlation id', async () => {
        const a = await http().post(`${BASE}/capabilities/newsletter.fail/run`).send({});
        const b = await http().post(`${BASE}/capabilities/newsletter.fail/run`).send({});
        expect(a.body.correlationId).not.toBe(b.body.correlationId);
      });

      it('keeps the status of an HttpException thrown by a capability', async () => {
        const res = await http().post(`${BASE}/capabilities/newsletter.teapot/run`).send({});
        expect(res.status).toBe(418);
        expect(res.headers['content-type']).toMatch(/application\/json/);
        expect(res.body.statusCode).toBe(418);
        expect(res.body.message).toBe('I am a teapot');
        expect(typeof res.body.code).toBe('string');
        expect(res.body.code.length).toBeGreaterThan(0);
      });
    });

    describe('If-Match', () => {
      it('accepts the current version (from the ETag) and writes', async () => {
        const etag = (await http().get(`${BASE}/plugins/mail`)).headers.etag;
        const res = await http()
          .patch(`${BASE}/plugins/mail`)
          .set('If-Match', etag)
          .send({ labelEn: 'Post' });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ labelEn: 'Post', version: 2 });
      });

      it('answers 412 VERSION_CONFLICT for a stale PATCH and writes nothing', async () => {
        await http().patch(`${BASE}/plugins/mail`).set('If-Match', '"1"').send({ sort: 21 });
        const before = await plugins();
        const res = await http()
          .patch(`${BASE}/plugins/mail`)
          .set('If-Match', '"1"')
          .send({ labelEn: 'Stale' });
        expectError(res, 412, 'VERSION_CONFLICT');
        expect(await plugins()).toEqual(before);
        expect(await plugin('mail')).toMatchObject({ labelEn: 'Mail', sort: 21, version: 2 });
      });

      it('answers 412 for a stale toggle, configure or delete and writes nothing', async () => {
        await http().post(`${BASE}/plugins`).send({ slug: 'temp' }).expect(201);
        await http().post(`${BASE}/plugins/temp/configure`).send({ a: 1 }).expect(200);
        const before = await plugins();
        expectError(
          await http().post(`${BASE}/plugins/temp/toggle`).set('If-Match', '"1"'),
          412,
          'VERSION_CONFLICT',
        );
        expectError(
          await http().post(`${BASE}/plugins/temp/configure`).set('If-Match', '"1"').send({ a: 2 }),
          412,
          'VERSION_CONFLICT',
        );
        expectError(
          await http().delete(`${BASE}/plugins/temp`).set('If-Match', '"1"'),
          412,
          'VERSION_CONFLICT',
        );
        expect(await plugins()).toEqual(before);
        expect(await plugin('temp')).toMatchObject({ enabled: true, config: { a: 1 }, version: 2 });
      });

      it('accepts a current If-Match on toggle, configure and delete', async () => {
        await http().post(`${BASE}/plugins`).send({ slug: 'temp' }).expect(201);
        const toggled = await http().post(`${BASE}/plugins/temp/toggle`).set('If-Match', '"1"');
        expect(toggled.status).toBe(200);
        expect(toggled.body).toMatchObject({ enabled: false, version: 2 });
        const configured = await http()
          .post(`${BASE}/plugins/temp/configure`)
          .set('If-Match', '"2"')
          .send({ a: 1 });
        expect(configured.status).toBe(200);
        expect(configured.body).toMatchObject({ config: { a: 1 }, version: 3 });
        await http().delete(`${BASE}/plugins/temp`).set('If-Match', '"3"').expect(204);
        await http().get(`${BASE}/plugins/temp`).expect(404);
      });

      it('answers 400 VALIDATION_FAILED for a garbage If-Match and writes nothing', async () => {
        const before = await plugins();
        for (const garbage of ['abc', '"1"x', '-1', '"1.5"']) {
          const res = await http()
            .patch(`${BASE}/plugins/mail`)
            .set('If-Match', garbage)
            .send({ labelEn: 'Garbage' });
          expectError(res, 400, 'VALIDATION_FAILED');
        }
        expect(await plugins()).toEqual(before);
      });
    });
  });

  describe('with allowAnonymous: false and no guards', () => {
    beforeEach(async () => {
      app = await boot({ allowAnonymous: false });
    });

    it('keeps every GET route open', async () => {
      for (const path of [
        '/plugins',
        '/plugins/mail',
        '/nav',
        '/nav?lang=ar',
        '/dashboard',
        '/capabilities',
      ]) {
        const res = await http().get(`${BASE}${path}`);
        expect(res.status, path).toBe(200);
      }
    });

    const mutations: Array<[string, () => request.Test]> = [
      ['POST /plugins', () => http().post(`${BASE}/plugins`).send({ slug: 'beta' })],
      ['PATCH /plugins/:slug', () => http().patch(`${BASE}/plugins/mail`).send({ sort: 1 })],
      ['DELETE /plugins/:slug', () => http().delete(`${BASE}/plugins/mail`)],
      ['POST /plugins/:slug/toggle', () => http().post(`${BASE}/plugins/mail/toggle`)],
      [
        'POST /plugins/:slug/configure',
        () => http().post(`${BASE}/plugins/mail/configure`).send({ a: 1 }),
      ],
      [
        'PUT /nav/order',
        () =>
          http()
            .put(`${BASE}/nav/order`)
            .send({ slugs: ['mail'] }),
      ],
      [
        'POST /capabilities/:slug/run',
        () => http().post(`${BASE}/capabilities/billing.charge/run`).send({ amount: 1 }),
      ],
    ];

    it.each(mutations)('%s answers 403 FORBIDDEN explaining guards', async (_, send) => {
      const before = await plugins();
      const res = await send();
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.message).toContain('guards');
      expect(await plugins()).toEqual(before);
    });

    it('closes the workflow runs (inputs, outputs, errors) like the audit log', async () => {
      const host = app.get(PluginHostService);
      await host.defineWorkflow({
        name: 'probe-flow',
        steps: [{ id: 'echo', capability: 'newsletter.echo' }],
      });
      const run = await host.runWorkflow('probe-flow', {});
      for (const path of ['/workflows/runs', `/workflows/runs/${run.id}`, '/audit']) {
        const res = await http().get(`${BASE}${path}`);
        expectError(res, 403, 'FORBIDDEN');
        expect(res.body.message, path).toContain('reads private data');
        expect(JSON.stringify(res.body)).not.toContain(run.id);
      }
      // The definitions are no more private than the capabilities list.
      expect((await http().get(`${BASE}/workflows`)).status).toBe(200);
      expect((await http().get(`${BASE}/workflows/probe-flow`)).status).toBe(200);
    });

    it('does not run the capability it refuses', async () => {
      const events: string[] = [];
      app.get(EventEmitter2).onAny((name) => events.push(String(name)));
      await http().post(`${BASE}/capabilities/newsletter.fail/run`).send({}).expect(403);
      expect(events).toEqual([]);
    });
  });

  describe('with guards', () => {
    beforeEach(async () => {
      app = await boot({ allowAnonymous: false, guards: [AdminHeaderGuard] });
    });

    it('refuses GET without the header the guard wants', async () => {
      expectError(await http().get(`${BASE}/plugins`), 403, 'FORBIDDEN');
      expectError(await http().get(`${BASE}/capabilities`), 403, 'FORBIDDEN');
    });

    it('lets the guard open reads and mutations', async () => {
      const list = await http().get(`${BASE}/plugins`).set('x-admin', 'yes');
      expect(list.status).toBe(200);
      expect(list.body).toHaveLength(BOOT_ORDER.length);
      const toggled = await http().post(`${BASE}/plugins/mail/toggle`).set('x-admin', 'yes');
      expect(toggled.status).toBe(200);
      expect(toggled.body.enabled).toBe(false);
      const run = await http()
        .post(`${BASE}/capabilities/billing.charge/run`)
        .set('x-admin', 'yes')
        .send({ amount: 3 });
      expect(run.status).toBe(200);
      expect(run.body).toEqual({ output: { charged: 3 } });
    });

    it('refuses a mutation without the header and changes nothing', async () => {
      const before = (await http().get(`${BASE}/plugins`).set('x-admin', 'yes')).body;
      expectError(await http().post(`${BASE}/plugins/mail/toggle`), 403, 'FORBIDDEN');
      expectError(
        await http().post(`${BASE}/plugins/mail/toggle`).set('x-admin', 'no'),
        403,
        'FORBIDDEN',
      );
      expect((await http().get(`${BASE}/plugins`).set('x-admin', 'yes')).body).toEqual(before);
    });
  });

  describe('with an authorize hook', () => {
    const asked: Array<{ action: string; slug?: string }> = [];

    beforeEach(async () => {
      asked.length = 0;
      app = await boot({
        allowAnonymous: true,
        authorize: ({ action, slug }) => {
          asked.push({ action, slug });
          return !(action === 'toggle' && slug === 'billing');
        },
      });
    });

    it('refuses toggle of billing (403) and changes nothing, but allows mail', async () => {
      const before = await plugin('billing');
      const refused = await http().post(`${BASE}/plugins/billing/toggle`);
      expectError(refused, 403, 'FORBIDDEN');
      expect(await plugin('billing')).toEqual(before);
      expect(before.enabled).toBe(true);

      const allowed = await http().post(`${BASE}/plugins/mail/toggle`);
      expect(allowed.status).toBe(200);
      expect(allowed.body.enabled).toBe(false);
      expect(asked).toContainEqual({ action: 'toggle', slug: 'billing' });
      expect(asked).toContainEqual({ action: 'toggle', slug: 'mail' });
    });

    it('allows the actions it does not refuse on billing', async () => {
      const res = await http().post(`${BASE}/plugins/billing/configure`).send({ currency: 'EUR' });
      expect(res.status).toBe(200);
      expect(res.body.config).toEqual({ currency: 'EUR' });
    });
  });

  describe('events', () => {
    let events: Array<{ name: string; payload: any }>;

    beforeEach(async () => {
      app = await boot();
      events = [];
      app.get(EventEmitter2).onAny((name, payload) => events.push({ name: String(name), payload }));
    });

    const named = (name: string) => events.filter((e) => e.name === name);

    it('emits plugin.disabled then plugin.enabled on toggle, with before/after', async () => {
      await http().post(`${BASE}/plugins/mail/toggle`).expect(200);
      const [disabled] = named('plugin-host.plugin.disabled');
      expect(disabled).toBeDefined();
      expect(disabled.payload).toMatchObject({
        slug: 'mail',
        origin: 'local',
        before: { slug: 'mail', enabled: true, version: 1 },
        after: { slug: 'mail', enabled: false, version: 2 },
      });
      expect(named('plugin-host.plugin.enabled')).toHaveLength(0);

      await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: true }).expect(200);
      const [enabled] = named('plugin-host.plugin.enabled');
      expect(enabled.payload).toMatchObject({
        slug: 'mail',
        origin: 'local',
        before: { enabled: false },
        after: { enabled: true },
      });
    });

    it('emits plugin.configured with the config before and after', async () => {
      await http().post(`${BASE}/plugins/newsletter/configure`).send({ from: null, x: 1 });
      const [configured] = named('plugin-host.plugin.configured');
      expect(configured).toBeDefined();
      expect(configured.payload).toMatchObject({
        slug: 'newsletter',
        origin: 'local',
        before: { config: { from: 'news@example.com' } },
        after: { config: { x: 1 } },
      });
      expect(configured.payload.after.config).toEqual({ x: 1 });
    });

    it('emits registered, updated and removed for the other writes', async () => {
      await http().post(`${BASE}/plugins`).send({ slug: 'temp' }).expect(201);
      await http().patch(`${BASE}/plugins/temp`).send({ labelEn: 'Temp' }).expect(200);
      await http().delete(`${BASE}/plugins/temp`).expect(204);
      expect(named('plugin-host.plugin.registered')[0]?.payload).toMatchObject({
        slug: 'temp',
        before: null,
        after: { slug: 'temp' },
      });
      expect(named('plugin-host.plugin.updated')[0]?.payload).toMatchObject({
        slug: 'temp',
        before: { labelEn: null },
        after: { labelEn: 'Temp' },
      });
      expect(named('plugin-host.plugin.removed')[0]?.payload).toMatchObject({
        slug: 'temp',
        before: { slug: 'temp' },
        after: null,
      });
    });

    it('emits capability.failed when a capability throws', async () => {
      await http().post(`${BASE}/capabilities/newsletter.fail/run`).send({}).expect(500);
      const [failed] = named('plugin-host.capability.failed');
      expect(failed).toBeDefined();
      expect(failed.payload).toMatchObject({ slug: 'newsletter.fail', plugin: 'newsletter' });
    });

    it('emits nothing for a request that fails', async () => {
      await http().patch(`${BASE}/plugins/mail`).set('If-Match', '"9"').send({ sort: 1 });
      await http()
        .post(`${BASE}/plugins/mail/configure`)
        .send({ constructor: { a: 1 } });
      await http().post(`${BASE}/plugins/ghost/toggle`);
      await http()
        .put(`${BASE}/nav/order`)
        .send({ slugs: ['mail', 'mail'] });
      expect(events.filter((e) => e.name.startsWith('plugin-host.plugin.'))).toEqual([]);
    });
  });
});
