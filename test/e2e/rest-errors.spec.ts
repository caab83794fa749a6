import type { INestApplication } from '@nestjs/common';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp } from '../src/app.factory.js';
import { expectError, STORE_SETUPS } from '../src/http-assertions.js';

const BASE = '/api/plugin-host';

/** Fails if a request managed to write onto `Object.prototype` in this process. */
function expectNoPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
}

/** Slugs that must never reach the store, as they appear in the URL path. */
const BAD_SLUGS: Array<[string, string]> = [
  ['upper case', 'Newsletter'],
  ['a Cyrillic look-alike', encodeURIComponent('nеwsletter')],
  ['a dot-dot segment', '..'],
  ['an encoded slash', '%2F'],
  ['an encoded traversal', '..%2F..%2Fplugins'],
  ['200 characters', 'a'.repeat(200)],
  ['SQL', encodeURIComponent("a'; drop table plugins;--")],
  ['SQL with a wildcard', encodeURIComponent("%' OR '1'='1")],
];

type Send = (slug: string) => request.Test;

describe.each(STORE_SETUPS)('REST errors on $name', ({ sqlite }) => {
  const opened: Array<{ app: INestApplication; dir?: string }> = [];
  let app: INestApplication;

  beforeEach(async () => {
    let database: TypeOrmModuleOptions | undefined;
    let dir: string | undefined;
    if (sqlite) {
      dir = mkdtempSync(join(tmpdir(), 'plugin-host-errors-'));
      database = { type: 'better-sqlite3', database: join(dir, 'plugins.db'), synchronize: true };
    }
    app = await createTestApp({ database });
    opened.push({ app, dir });
    if (dir && !existsSync(join(dir, 'plugins.db'))) throw new Error('SQLite file was not created');
  });

  afterEach(async () => {
    for (const { app: instance, dir } of opened.splice(0)) {
      await instance.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const http = () => request(app.getHttpServer());
  const plugins = async () => (await http().get(`${BASE}/plugins`).expect(200)).body;
  const plugin = async (slug: string) =>
    (await http().get(`${BASE}/plugins/${slug}`).expect(200)).body;

  /** Runs `send`, then checks GET /plugins is exactly what it was before. */
  async function unchanged(send: () => request.Test): Promise<request.Response> {
    const before = await plugins();
    const res = await send();
    expect(await plugins()).toEqual(before);
    return res;
  }

  describe('bad slugs in the path', () => {
    const routes: Array<[string, Send]> = [
      ['GET /plugins/:slug', (s) => http().get(`${BASE}/plugins/${s}`)],
      ['PATCH /plugins/:slug', (s) => http().patch(`${BASE}/plugins/${s}`).send({ sort: 1 })],
      ['DELETE /plugins/:slug', (s) => http().delete(`${BASE}/plugins/${s}`)],
      ['POST /plugins/:slug/toggle', (s) => http().post(`${BASE}/plugins/${s}/toggle`)],
      [
        'POST /plugins/:slug/configure',
        (s) => http().post(`${BASE}/plugins/${s}/configure`).send({ a: 1 }),
      ],
      [
        'POST /capabilities/:slug/run',
        (s) => http().post(`${BASE}/capabilities/${s}/run`).send({}),
      ],
    ];
    const cases = routes.flatMap(([route, send]) =>
      BAD_SLUGS.map(([what, slug]) => [route, what, slug, send] as const),
    );

    it.each(cases)(
      '%s with %s answers 400 VALIDATION_FAILED and changes nothing',
      async (_, __, slug, send) => {
        const res = await unchanged(() => send(slug));
        expectError(res, 400, 'VALIDATION_FAILED');
      },
    );

    it('keeps the table after a SQL-looking slug', async () => {
      const slug = encodeURIComponent("a'; drop table plugins;--");
      await http().delete(`${BASE}/plugins/${slug}`);
      await http().post(`${BASE}/plugins/${slug}/configure`).send({ a: 1 });
      expect(await plugins()).toHaveLength(5);
      await http().post(`${BASE}/plugins`).send({ slug: 'after' }).expect(201);
      expect((await plugin('after')).slug).toBe('after');
    });

    it('answers 400 VALIDATION_FAILED for a bad slug in a register body', async () => {
      for (const slug of ['Beta', 'nеwsletter', '-beta', '', 'a'.repeat(64), "a'; drop", 5]) {
        const res = await unchanged(() => http().post(`${BASE}/plugins`).send({ slug }));
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expectError(
        await unchanged(() => http().post(`${BASE}/plugins`).send({})),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('answers 400 VALIDATION_FAILED for a bad slug in the reorder list', async () => {
      for (const slugs of [['mail', 'Newsletter'], ['..'], [5], 'mail']) {
        const res = await unchanged(() => http().put(`${BASE}/nav/order`).send({ slugs }));
        expectError(res, 400, 'VALIDATION_FAILED');
      }
    });
  });

  describe('a path that does not percent-decode', () => {
    it('answers 400 with a code, on either platform', async () => {
      for (const path of ['/plugins/%', '/capabilities/%ZZ/run']) {
        const res = await http().get(`${BASE}${path}`);
        expect([res.status, res.body.statusCode, typeof res.body.code], path).toEqual([
          400,
          400,
          'string',
        ]);
      }
    });
  });

  describe('non-object bodies', () => {
    const routes: Array<[string, (body: string) => request.Test]> = [
      [
        'POST /plugins/:slug/configure',
        (b) =>
          http()
            .post(`${BASE}/plugins/newsletter/configure`)
            .set('Content-Type', 'application/json')
            .send(b),
      ],
      [
        'POST /plugins/:slug/toggle',
        (b) =>
          http()
            .post(`${BASE}/plugins/mail/toggle`)
            .set('Content-Type', 'application/json')
            .send(b),
      ],
      [
        'POST /plugins',
        (b) => http().post(`${BASE}/plugins`).set('Content-Type', 'application/json').send(b),
      ],
      [
        'POST /capabilities/:slug/run',
        (b) =>
          http()
            .post(`${BASE}/capabilities/newsletter.echo/run`)
            .set('Content-Type', 'application/json')
            .send(b),
      ],
      [
        'PUT /nav/order',
        (b) => http().put(`${BASE}/nav/order`).set('Content-Type', 'application/json').send(b),
      ],
    ];
    const bodies: Array<[string, string]> = [
      ['a JSON array', '[{"slug":"beta"}]'],
      ['an empty JSON array', '[]'],
      ['a JSON string', '"mail"'],
      ['a JSON number', '42'],
      ['JSON true', 'true'],
      ['JSON null', 'null'],
    ];
    const cases = routes.flatMap(([route, send]) =>
      bodies.map(([what, body]) => [route, what, body, send] as const),
    );

    it.each(cases)('%s with %s answers 400 VALIDATION_FAILED', async (_, __, body, send) => {
      const res = await unchanged(() => send(body));
      expectError(res, 400, 'VALIDATION_FAILED');
    });
  });

  describe('DTO validation', () => {
    it('refuses unknown fields on PATCH /plugins/:slug', async () => {
      for (const body of [
        { labelEn: 'X', color: 'red' },
        { enabled: false },
        { config: { a: 1 } },
        { slug: 'other' },
        { version: 9 },
      ]) {
        const res = await unchanged(() => http().patch(`${BASE}/plugins/mail`).send(body));
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expect((await plugin('mail')).labelEn).toBe('Mail');
    });

    it('refuses unknown fields on POST /plugins', async () => {
      for (const body of [
        { slug: 'beta', color: 'red' },
        { slug: 'beta', version: 7 },
        { slug: 'beta', createdAt: '2020-01-01' },
      ]) {
        const res = await unchanged(() => http().post(`${BASE}/plugins`).send(body));
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expectError(await http().get(`${BASE}/plugins/beta`), 404, 'PLUGIN_NOT_FOUND');
    });

    it('refuses unknown fields on toggle and reorder', async () => {
      expectError(
        await unchanged(() =>
          http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false, extra: 1 }),
        ),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await unchanged(() =>
          http()
            .put(`${BASE}/nav/order`)
            .send({ slugs: ['mail'], extra: 1 }),
        ),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('refuses wrong types', async () => {
      const cases: Array<[string, () => request.Test]> = [
        [
          'toggle enabled: "yes"',
          () => http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: 'yes' }),
        ],
        [
          'toggle enabled: 1',
          () => http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: 1 }),
        ],
        [
          'toggle enabled: null',
          () => http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: null }),
        ],
        ['PATCH sort: 1.5', () => http().patch(`${BASE}/plugins/mail`).send({ sort: 1.5 })],
        ['PATCH sort: "3"', () => http().patch(`${BASE}/plugins/mail`).send({ sort: '3' })],
        [
          'PATCH sort: 2^40',
          () =>
            http()
              .patch(`${BASE}/plugins/mail`)
              .send({ sort: 2 ** 40 }),
        ],
        ['PATCH labelEn: 5', () => http().patch(`${BASE}/plugins/mail`).send({ labelEn: 5 })],
        ['PATCH labelEn: ""', () => http().patch(`${BASE}/plugins/mail`).send({ labelEn: '' })],
        [
          'PATCH labelAr: 256 chars',
          () =>
            http()
              .patch(`${BASE}/plugins/mail`)
              .send({ labelAr: 'ع'.repeat(256) }),
        ],
        // PostgreSQL refuses NUL in text (a 503 before this was checked); every store turns an
        // unpaired surrogate into U+FFFD, so the stored label would differ from the answer.
        [
          'PATCH labelEn with a NUL character',
          () => http().patch(`${BASE}/plugins/mail`).send({ labelEn: 'a\u0000b' }),
        ],
        [
          'PATCH labelAr with an unpaired surrogate',
          () => http().patch(`${BASE}/plugins/mail`).send({ labelAr: '\ud800x' }),
        ],
        [
          'POST labelEn with a NUL character',
          () => http().post(`${BASE}/plugins`).send({ slug: 'beta', labelEn: 'x\u0000' }),
        ],
        ['PATCH nav: "true"', () => http().patch(`${BASE}/plugins/mail`).send({ nav: 'true' })],
        [
          'PATCH kind: "Bad Kind"',
          () => http().patch(`${BASE}/plugins/mail`).send({ kind: 'Bad Kind' }),
        ],
        [
          'POST enabled: "yes"',
          () => http().post(`${BASE}/plugins`).send({ slug: 'beta', enabled: 'yes' }),
        ],
        [
          'POST config: array',
          () =>
            http()
              .post(`${BASE}/plugins`)
              .send({ slug: 'beta', config: [1, 2] }),
        ],
        [
          'POST config: "x"',
          () => http().post(`${BASE}/plugins`).send({ slug: 'beta', config: 'x' }),
        ],
        ['POST sort: 1.5', () => http().post(`${BASE}/plugins`).send({ slug: 'beta', sort: 1.5 })],
        ['reorder slugs: {}', () => http().put(`${BASE}/nav/order`).send({ slugs: {} })],
      ];
      for (const [what, send] of cases) {
        const res = await unchanged(send);
        expect(res.status, what).toBe(400);
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expectError(await http().get(`${BASE}/plugins/beta`), 404, 'PLUGIN_NOT_FOUND');
    });

    it('says what is wrong with a value of the wrong type', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ sort: '3' }, /sort must be an integer/],
        [{ labelEn: 5 }, /labelEn must be a string/],
        [{ labelAr: ['a'] }, /labelAr must be a string/],
        [{ kind: 7 }, /kind must be a string/],
      ];
      const reorder = await http().put(`${BASE}/nav/order`).send({ slugs: 'mail' });
      expect(reorder.body.message).toMatch(/slugs must be an array/);
      for (const [body, message] of cases) {
        const res = await http().patch(`${BASE}/plugins/mail`).send(body);
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(res.body.message, JSON.stringify(body)).toMatch(message);
      }
    });

    it('names the offending field in the message', async () => {
      const res = await http().patch(`${BASE}/plugins/mail`).send({ sort: 1.5, labelEn: 5 });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.message).toContain('sort');
      expect(res.body.message).toContain('labelEn');
    });
  });

  describe('prototype pollution', () => {
    const payloads: Array<[string, string]> = [
      ['__proto__ at depth 0', '{"__proto__":{"polluted":1}}'],
      ['constructor at depth 0', '{"constructor":{"prototype":{"polluted":1}}}'],
      ['prototype at depth 0', '{"prototype":{"polluted":1}}'],
      ['__proto__ nested', '{"safe":{"deeper":{"__proto__":{"polluted":1}}}}'],
      ['constructor nested', '{"safe":{"constructor":{"prototype":{"polluted":1}}}}'],
      ['prototype nested in an array', '{"list":[{"prototype":{"polluted":1}}]}'],
    ];

    it.each(payloads)('configure refuses %s with 400 and keeps the config', async (_, raw) => {
      const before = await plugin('newsletter');
      const res = await unchanged(() =>
        http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .set('Content-Type', 'application/json')
          .send(raw),
      );
      expectError(res, 400, 'VALIDATION_FAILED');
      expectNoPollution();
      const after = await plugin('newsletter');
      expect(after.config).toEqual({ from: 'news@example.com' });
      expect(after.version).toBe(before.version);
    });

    it.each(payloads)('capability run refuses %s as input with 400', async (_, raw) => {
      const res = await http()
        .post(`${BASE}/capabilities/newsletter.echo/run`)
        .set('Content-Type', 'application/json')
        .send(raw);
      expectError(res, 400, 'VALIDATION_FAILED');
      expectNoPollution();
    });

    it.each(payloads)('register refuses %s inside config with 400', async (_, raw) => {
      const res = await unchanged(() =>
        http()
          .post(`${BASE}/plugins`)
          .set('Content-Type', 'application/json')
          .send(`{"slug":"evil","config":${raw}}`),
      );
      expectError(res, 400, 'VALIDATION_FAILED');
      expectNoPollution();
      expectError(await http().get(`${BASE}/plugins/evil`), 404, 'PLUGIN_NOT_FOUND');
    });

    it('register refuses __proto__ and constructor beside the fields', async () => {
      for (const raw of [
        '{"slug":"evil","__proto__":{"polluted":1}}',
        '{"slug":"evil","constructor":{"prototype":{"polluted":1}}}',
        '{"__proto__":{"slug":"evil"}}',
      ]) {
        const res = await unchanged(() =>
          http().post(`${BASE}/plugins`).set('Content-Type', 'application/json').send(raw),
        );
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expectNoPollution();
      expectError(await http().get(`${BASE}/plugins/evil`), 404, 'PLUGIN_NOT_FOUND');
    });

    it('PATCH, toggle and reorder refuse __proto__', async () => {
      const sends: Array<() => request.Test> = [
        () =>
          http()
            .patch(`${BASE}/plugins/mail`)
            .set('Content-Type', 'application/json')
            .send('{"__proto__":{"nav":false},"labelEn":"X"}'),
        () =>
          http()
            .post(`${BASE}/plugins/mail/toggle`)
            .set('Content-Type', 'application/json')
            .send('{"__proto__":{"enabled":false}}'),
        () =>
          http()
            .put(`${BASE}/nav/order`)
            .set('Content-Type', 'application/json')
            .send('{"slugs":["mail"],"__proto__":{"polluted":1}}'),
      ];
      for (const send of sends) {
        expectError(await unchanged(send), 400, 'VALIDATION_FAILED');
      }
      expect(await plugin('mail')).toMatchObject({ enabled: true, labelEn: 'Mail', version: 1 });
      expectNoPollution();
    });

    it('accepts keys that merely contain the forbidden words', async () => {
      const res = await http()
        .post(`${BASE}/plugins/newsletter/configure`)
        .send({ protoType: 1, constructors: ['a'], __proto: true });
      expect(res.status).toBe(200);
      expect(res.body.config).toEqual({
        from: 'news@example.com',
        protoType: 1,
        constructors: ['a'],
        __proto: true,
      });
    });
  });

  describe('transport-level failures', () => {
    it('answers 400 { statusCode, code, message } for a malformed JSON body and changes nothing', async () => {
      const res = await unchanged(() =>
        http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .set('Content-Type', 'application/json')
          .send('{"from": "x",'),
      );
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body.statusCode).toBe(400);
      expect(typeof res.body.code).toBe('string');
      expect(typeof res.body.message).toBe('string');
      expect((await plugin('newsletter')).config).toEqual({ from: 'news@example.com' });
    });

    it('answers 413 { statusCode, code, message } for a body over 100kb and changes nothing', async () => {
      const res = await unchanged(() =>
        http()
          .post(`${BASE}/plugins/newsletter/configure`)
          .send({ big: 'x'.repeat(200_000) }),
      );
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body.statusCode).toBe(413);
      expect(typeof res.body.code).toBe('string');
      expect(typeof res.body.message).toBe('string');
      expect((await plugin('newsletter')).config).toEqual({ from: 'news@example.com' });
    });

    it('answers 413 JSON with a statusCode for an oversized capability input', async () => {
      const res = await http()
        .post(`${BASE}/capabilities/newsletter.echo/run`)
        .send({ big: 'x'.repeat(200_000) });
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body.statusCode).toBe(413);
    });
  });

  describe('error body shape', () => {
    it('answers { statusCode, code, message } and nothing internal for each error code', async () => {
      const cases: Array<[number, string, () => request.Test]> = [
        [400, 'VALIDATION_FAILED', () => http().patch(`${BASE}/plugins/mail`).send({ sort: 'x' })],
        [404, 'PLUGIN_NOT_FOUND', () => http().get(`${BASE}/plugins/ghost`)],
        [404, 'CAPABILITY_NOT_FOUND', () => http().post(`${BASE}/capabilities/ghost.run/run`)],
        [409, 'PLUGIN_EXISTS', () => http().post(`${BASE}/plugins`).send({ slug: 'mail' })],
        [409, 'PLUGIN_IN_USE', () => http().delete(`${BASE}/plugins/mail`)],
        [
          412,
          'VERSION_CONFLICT',
          () => http().patch(`${BASE}/plugins/mail`).set('If-Match', '"7"').send({ sort: 1 }),
        ],
        [500, 'CAPABILITY_FAILED', () => http().post(`${BASE}/capabilities/newsletter.fail/run`)],
      ];
      for (const [status, code, send] of cases) {
        const res = await unchanged(send);
        expectError(res, status, code);
        expect(res.body).not.toHaveProperty('stack');
        expect(res.text).not.toContain('node_modules');
        expect(res.text).not.toContain('hunter2');
      }
      await http().post(`${BASE}/plugins/mail/toggle`).send({ enabled: false }).expect(200);
      expectError(
        await http().post(`${BASE}/capabilities/mail.deliver/run`).send({ to: 'a' }),
        409,
        'PLUGIN_DISABLED',
      );
    });
  });
});
