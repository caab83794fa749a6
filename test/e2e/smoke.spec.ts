import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { INestApplication } from '@nestjs/common';
import { createTestApp } from '../src/app.factory.js';

describe('smoke', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app?.close());

  it('lists plugins', async () => {
    const res = await request(app.getHttpServer()).get('/api/plugin-host/plugins');
    console.log(res.status, res.body);
    const run = await request(app.getHttpServer())
      .post('/api/plugin-host/capabilities/newsletter.send/run')
      .send({ subject: 'hi' });
    console.log(run.status, run.body);
    expect(res.status).toBe(200);
  });
});
