import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, HTTP_ADAPTER } from '../src/app.factory.js';

const API = '/api/plugin-host';

describe('HTTP details', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app?.close());

  it('refuses form-encoded bodies on mutating routes with 415 and changes nothing', async () => {
    const res = await http()
      .post(`${API}/plugins`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('slug=form-made');
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    await http().get(`${API}/plugins/form-made`).expect(404);
    const text = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set('Content-Type', 'text/plain')
      .send('{"enabled":false}');
    expect(text.status).toBe(415);
    expect((await http().get(`${API}/plugins/mail`)).body.enabled).toBe(true);
  });

  it('refuses an empty HTML-form POST (a cross-site request) with 415 and changes nothing', async () => {
    const res = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Length', '0');
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await http().get(`${API}/plugins/mail`)).body.enabled).toBe(true);
  });

  it('refuses a bodyless POST from another site (no-cors fetch, sendBeacon) unless it declares JSON', async () => {
    // What a page on another site can send with the victim's cookies and no CORS preflight.
    for (const browser of [
      { Origin: 'https://evil.example' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' },
      { 'Sec-Fetch-Site': 'same-site', Origin: 'https://other.example.com' },
    ]) {
      for (const path of [`${API}/plugins/mail/toggle`, `${API}/capabilities/mail.deliver/run`]) {
        const res = await http().post(path).set(browser);
        expect(res.status).toBe(415);
        expect(res.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
        expect(res.body.message).toMatch(/from another site/);
      }
    }
    expect((await http().get(`${API}/plugins/mail`)).body.enabled).toBe(true);
    // The admin's own page declares JSON (a type another site cannot send without a preflight).
    const own = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set({ Origin: 'http://localhost', 'Sec-Fetch-Site': 'same-origin' })
      .set('Content-Type', 'application/json');
    expect(own.status).toBe(200);
    expect(own.body.enabled).toBe(false);
    // The app's own pages (Swagger UI's "Try it out", say) keep the bodyless form.
    const sameOrigin = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set({ 'Sec-Fetch-Site': 'same-origin', Origin: 'http://anything' });
    expect(sameOrigin.status).toBe(200);
    // A browser too old for Sec-Fetch-Site: its Origin names the host it asked.
    const oldBrowser = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set({ Host: 'admin.example:8443', Origin: 'https://admin.example:8443' });
    expect(oldBrowser.status).toBe(200);
    // The same host written with a default port or in capitals.
    for (const [host, origin] of [
      ['Admin.Example:443', 'https://admin.example'],
      ['admin.example', 'http://ADMIN.example:80'],
    ]) {
      const same = await http()
        .post(`${API}/plugins/mail/toggle`)
        .set({ Host: host, Origin: origin });
      expect(same.status, `${host} ${origin}`).toBe(200);
    }
    // Reads from a browser are untouched.
    const read = await http().get(`${API}/plugins/mail`).set({ Origin: 'https://evil.example' });
    expect(read.status).toBe(200);
    await http().post(`${API}/plugins/mail/toggle`).send({ enabled: true }).expect(200);
  });

  it('accepts a bodyless toggle and application/*+json bodies', async () => {
    await http().post(`${API}/plugins/mail/toggle`).expect(200);
    const res = await http()
      .post(`${API}/plugins/mail/toggle`)
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify({ enabled: true }));
    expect(res.status).toBe(200);
    expect(res.body.enabled).toBe(true);
  });

  it('sends ETag "<version>" on every response holding one plugin, usable as If-Match', async () => {
    const read = await http().get(`${API}/plugins/mail`);
    expect(read.headers.etag).toBe(`"${read.body.version}"`);
    const configured = await http()
      .post(`${API}/plugins/mail/configure`)
      .set('If-Match', read.headers.etag)
      .send({ etag: 1 });
    expect(configured.status).toBe(200);
    expect(configured.headers.etag).toBe(`"${read.body.version + 1}"`);
    const stale = await http()
      .patch(`${API}/plugins/mail`)
      .set('If-Match', read.headers.etag)
      .send({ sort: 3 });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('VERSION_CONFLICT');
    const fresh = await http()
      .patch(`${API}/plugins/mail`)
      .set('If-Match', configured.headers.etag)
      .send({ sort: 3 });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.etag).toBe(`"${fresh.body.version}"`);
  });

  it('answers 508 CAPABILITY_LOOP for a capability chain that calls itself', async () => {
    const res = await http().post(`${API}/capabilities/newsletter.loop/run`).send({});
    expect(res.status).toBe(508);
    expect(res.body).toMatchObject({ statusCode: 508, code: 'CAPABILITY_LOOP' });
  });

  it("opens the admin page at ui/, and follows the platform's router for a trailing slash", async () => {
    const page = await http().get(`${API}/ui/?lang=ar`);
    expect(page.status).toBe(308);
    expect(page.headers.location).toBe('../ui?lang=ar');
    const read = await http().get(`${API}/plugins/mail/?x=1`);
    const toggle = await http().post(`${API}/plugins/mail/toggle/`).send({ enabled: true });
    if (HTTP_ADAPTER === 'express') {
      // Express's router ignores one trailing slash.
      expect(read.status).toBe(200);
      expect(read.body.slug).toBe('mail');
      expect(toggle.status).toBe(200);
    } else {
      // Fastify's does not: a GET or HEAD is sent to the path without it, relative to where it
      // was asked for; another method gets the module's 404, as a redirect would resend its body.
      expect(read.status).toBe(308);
      expect(read.headers.location).toBe('../mail?x=1');
      expect(new URL(read.headers.location, `http://h${API}/plugins/mail/?x=1`).pathname).toBe(
        `${API}/plugins/mail`,
      );
      expect((await http().head(`${API}/plugins/mail/`)).status).toBe(308);
      expect(toggle.status).toBe(404);
      expect(toggle.body.code).toBe('NOT_FOUND');
    }
    // Two slashes are no route on either.
    const twice = await http().get(`${API}/plugins/mail//`);
    expect(twice.status).toBe(404);
    expect(twice.body.code).toBe('NOT_FOUND');
  });

  it('redirects a trailing slash only to a route that answers GET, at the root too', async () => {
    expect((await http().get(`${API}/nope/`)).status).toBe(404);
    const root = await createTestApp({ host: { path: '' } });
    try {
      const get = (path: string) => request(root.getHttpServer()).get(path);
      // No loop on / (the path without the slash is no route).
      const home = await get('/');
      expect(home.status).toBe(404);
      expect(home.headers.location).toBeUndefined();
      const page = await get('/ui/?lang=ar');
      expect([page.status, page.headers.location]).toEqual([308, '../ui?lang=ar']);
      const read = await get('/plugins/mail/');
      if (HTTP_ADAPTER === 'express') expect(read.status).toBe(200);
      else expect([read.status, read.headers.location]).toEqual([308, '../mail']);
    } finally {
      await root.close();
    }
  });

  it('leaves errors outside its path to the app', async () => {
    const res = await http()
      .post('/elsewhere')
      .set('Content-Type', 'application/json')
      .send('{"broken":');
    expect(res.status).toBe(400);
    expect(res.body.code).toBeUndefined();
  });
});
