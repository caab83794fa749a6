import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { expectError } from '../src/http-assertions.js';
import { VaultPlugin } from '../src/plugins.fixture.js';

const API = '/api/plugin-host';

describe('error bodies a client can act on', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const plugin = async (slug: string) => (await http().get(`${API}/plugins/${slug}`)).body;

  beforeAll(async () => {
    app = await createTestApp({
      providers: [...DEFAULT_PROVIDERS, VaultPlugin],
      host: { maxJsonDepth: 4, maxJsonKeys: 40 },
    });
  });
  afterAll(() => app?.close());

  describe('412 VERSION_CONFLICT', () => {
    it('carries slug and currentVersion and sends the current version as ETag, ready to retry with', async () => {
      const read = await http().get(`${API}/plugins/billing`);
      await http().patch(`${API}/plugins/billing`).send({ labelEn: 'Invoices' }).expect(200);
      const current = read.body.version + 1;
      const stale = await http()
        .patch(`${API}/plugins/billing`)
        .set('If-Match', read.headers.etag)
        .send({ sort: 15 });
      expectError(stale, 412, 'VERSION_CONFLICT');
      expect(stale.body).toEqual({
        statusCode: 412,
        code: 'VERSION_CONFLICT',
        message: `Plugin "billing" is at version ${current}, not ${read.body.version}: it changed since you read it. Reload and retry.`,
        slug: 'billing',
        currentVersion: current,
      });
      expect(stale.headers.etag).toBe(`"${current}"`);
      expect((await plugin('billing')).sort).toBe(read.body.sort);
      const retried = await http()
        .patch(`${API}/plugins/billing`)
        .set('If-Match', stale.headers.etag)
        .send({ sort: 15 });
      expect(retried.status).toBe(200);
      expect(retried.body).toMatchObject({ sort: 15, version: current + 1 });
    });

    it('answers the same on toggle, configure and delete', async () => {
      await http().post(`${API}/plugins`).send({ slug: 'conflicted' }).expect(201);
      await http().post(`${API}/plugins/conflicted/configure`).send({ a: 1 }).expect(200);
      const sends = [
        () => http().post(`${API}/plugins/conflicted/toggle`).set('If-Match', 'W/"1"'),
        () =>
          http().post(`${API}/plugins/conflicted/configure`).set('If-Match', '1').send({ a: 2 }),
        () => http().delete(`${API}/plugins/conflicted`).set('If-Match', '"1"'),
      ];
      for (const send of sends) {
        const res = await send();
        expectError(res, 412, 'VERSION_CONFLICT');
        expect(res.body).toMatchObject({ slug: 'conflicted', currentVersion: 2 });
        expect(res.headers.etag).toBe('"2"');
      }
      expect(await plugin('conflicted')).toMatchObject({ enabled: true, config: { a: 1 } });
    });
  });

  describe('400 VALIDATION_FAILED details', () => {
    it('locates config-schema violations by config path, keeping message and errors', async () => {
      const before = await plugin('vault');
      const res = await http()
        .post(`${API}/plugins/vault/configure`)
        .send({ smtp: { host: 42, port: 70000 }, region: 5, extra: true });
      expectError(res, 400, 'VALIDATION_FAILED');
      const paths = res.body.details.map((d: { path: string }) => d.path);
      expect(paths).toEqual(
        expect.arrayContaining(['config.smtp.host', 'config.smtp.port', 'config.region']),
      );
      expect(paths).toContain('config.extra');
      expect(res.body.details).toContainEqual({
        path: 'config.smtp.port',
        message: 'port must not be greater than 65535',
      });
      // The strings are what they were: "<path>: <message>", joined into `message`.
      expect(res.body.errors).toEqual(
        res.body.details.map((d: { path: string; message: string }) => `${d.path}: ${d.message}`),
      );
      expect(res.body.message).toBe(res.body.errors.join('; '));
      expect(await plugin('vault')).toEqual(before);
    });

    it('locates a single config-schema violation, without an errors list', async () => {
      const res = await http()
        .post(`${API}/plugins/vault/configure`)
        .send({ smtp: { host: 'mx', port: 0 } });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body).not.toHaveProperty('errors');
      expect(res.body.details).toEqual([
        { path: 'config.smtp.port', message: 'port must not be less than 1' },
      ]);
      expect(res.body.message).toBe('config.smtp.port: port must not be less than 1');
    });

    it('locates DTO violations of a register body by field, keeping the documented message', async () => {
      const res = await http().post(`${API}/plugins`).send({ slug: 'x', color: 'red', nav: 'yes' });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.message).toBe('property color should not exist; nav must be a boolean value');
      expect(res.body.errors).toEqual([
        'property color should not exist',
        'nav must be a boolean value',
      ]);
      expect(res.body.details).toEqual([
        { path: 'body.color', message: 'property color should not exist' },
        { path: 'body.nav', message: 'nav must be a boolean value' },
      ]);
    });

    it('locates DTO violations of update, toggle and reorder bodies', async () => {
      const cases: Array<[() => request.Test, string]> = [
        [() => http().patch(`${API}/plugins/mail`).send({ sort: 1.5 }), 'body.sort'],
        [() => http().patch(`${API}/plugins/mail`).send({ labelAr: '' }), 'body.labelAr'],
        [() => http().post(`${API}/plugins/mail/toggle`).send({ enabled: 'yes' }), 'body.enabled'],
        [() => http().put(`${API}/nav/order`).send({ slugs: 'mail' }), 'body.slugs'],
        [
          () =>
            http()
              .put(`${API}/nav/order`)
              .send({ slugs: ['Mail'] }),
          'body.slugs',
        ],
        [
          () =>
            http()
              .put(`${API}/nav/order`)
              .send({ slugs: ['mail'], extra: 1 }),
          'body.extra',
        ],
      ];
      for (const [send, path] of cases) {
        const res = await send();
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(res.body.details, path).toEqual([{ path, message: res.body.message }]);
      }
      expect(await plugin('mail')).toMatchObject({ version: 1, enabled: true });
    });

    it("locates the body pipe's JSON violations: forbidden keys, depth, key count", async () => {
      const send = (raw: string) =>
        http()
          .post(`${API}/plugins/newsletter/configure`)
          .set('Content-Type', 'application/json')
          .send(raw);

      const proto = await send('{"safe":{"deeper":{"__proto__":{"polluted":1}}}}');
      expectError(proto, 400, 'VALIDATION_FAILED');
      expect(proto.body.message).toBe(
        'Forbidden key at "body.safe.deeper.__proto__": __proto__, constructor and prototype are refused.',
      );
      expect(proto.body.details).toEqual([
        { path: 'body.safe.deeper.__proto__', message: proto.body.message },
      ]);

      const listed = await send('{"list":[1,{"prototype":{}}],"constructor":{}}');
      expect(listed.body.details.map((d: { path: string }) => d.path)).toEqual([
        'body.list[1].prototype',
        'body.constructor',
      ]);
      expect(listed.body.errors).toHaveLength(2);

      const deep = await send('{"a":{"b":{"c":{"d":{"e":1}}}}}');
      expectError(deep, 400, 'VALIDATION_FAILED');
      expect(deep.body.message).toBe('JSON nested deeper than 4 levels.');
      expect(deep.body.details).toEqual([
        { path: 'body.a.b.c.d', message: 'JSON nested deeper than 4 levels.' },
      ]);

      // 4 keys with 10 each: the 41st key is the 7th of "d".
      const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
      const wide = await send(JSON.stringify({ a: ten, b: ten, c: ten, d: ten }));
      expectError(wide, 400, 'VALIDATION_FAILED');
      expect(wide.body.message).toBe('JSON with more than 40 keys in all.');
      expect(wide.body.details).toEqual([
        { path: 'body.d', message: 'JSON with more than 40 keys in all.' },
      ]);
      expect((await plugin('newsletter')).version).toBe(1);
    });

    it('locates JSON violations in a capability input too', async () => {
      const res = await http()
        .post(`${API}/capabilities/newsletter.echo/run`)
        .set('Content-Type', 'application/json')
        .send('{"nested":{"constructor":{"prototype":{"polluted":1}}}}');
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.details).toEqual([
        { path: 'body.nested.constructor', message: res.body.message },
      ]);
    });

    it('has no details when the violation has no location', async () => {
      for (const res of [
        await http().get(`${API}/nav?lang=fr`),
        await http().patch(`${API}/plugins/mail`).set('If-Match', 'abc').send({ sort: 1 }),
        // Unbalanced quotes are not an entity tag either.
        await http().patch(`${API}/plugins/mail`).set('If-Match', '"1').send({ sort: 1 }),
        await http().patch(`${API}/plugins/mail`).set('If-Match', '1"').send({ sort: 1 }),
        await http().get(`${API}/plugins/Bad`),
      ]) {
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(res.body).not.toHaveProperty('details');
      }
    });
  });
});
