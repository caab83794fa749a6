import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../src/app.factory.js';

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

  it('leaves errors outside its path to the app', async () => {
    const res = await http()
      .post('/elsewhere')
      .set('Content-Type', 'application/json')
      .send('{"broken":');
    expect(res.status).toBe(400);
    expect(res.body.code).toBeUndefined();
  });
});
