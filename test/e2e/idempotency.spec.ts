import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PluginHostService } from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';
import { effects, ONBOARDING, WorkflowSteps } from '../src/workflow.fixture.js';

const API = '/api/plugin-host';

describe.each(DATABASES)('idempotency keys on %s', (_name, createDatabase) => {
  let db: TestDatabase;
  let app: INestApplication;
  let host: PluginHostService;
  beforeAll(async () => {
    db = await createDatabase();
    app = await createTestApp({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      host: { workflows: [ONBOARDING] },
    });
    host = app.get(PluginHostService);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });
  beforeEach(() => effects.reset());

  const run = (key: string, email = 'a@b.c') =>
    host.runWorkflow('onboarding', { email }, { idempotencyKey: key });

  // MariaDB's default collation compares case- and accent-insensitively and ignores trailing
  // spaces: a unique index on the key itself took these for one key.
  it.each([
    ['letter case', 'Order-1', 'order-1'],
    ['accents', 'cafe', 'café'],
    ['a trailing space', 'pad', 'pad '],
    ['full-width letters', 'key', 'ｋｅｙ'],
  ])('keeps keys that differ only by %s apart', async (_what, first, second) => {
    const one = await run(first, `${first}@x.y`);
    const other = await run(second, `${second}@x.y`);
    expect(other.id).not.toBe(one.id);
    expect(other.idempotencyKey).toBe(second);
    expect(effects.created).toEqual([`${first}@x.y`, `${second}@x.y`]);
    // Each key still finds its own run, and only its own.
    expect((await run(first)).id).toBe(one.id);
    expect((await run(second)).id).toBe(other.id);
    expect(effects.created).toHaveLength(2);
  });

  it('takes a key of 255 characters, emoji included, and finds it again', async () => {
    const key = `${'🔑'.repeat(10)}${'k'.repeat(235)}`;
    const first = await run(key);
    expect((await run(key)).id).toBe(first.id);
    expect(first.idempotencyKey).toBe(key);
  });

  it('starts one run for a key sent twice at once over REST', async () => {
    const http = () => request(app.getHttpServer());
    const send = () =>
      http()
        .post(`${API}/workflows/onboarding/run`)
        .set('Idempotency-Key', 'Parallel-7')
        .send({ email: 'p@q.r' });
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.id).toBe(b.body.id);
    const lower = await http()
      .post(`${API}/workflows/onboarding/run`)
      .set('Idempotency-Key', 'parallel-7')
      .send({ email: 'p@q.r' });
    expect(lower.status).toBe(200);
    expect(lower.body.id).not.toBe(a.body.id);
    expect(lower.body.idempotencyKey).toBe('parallel-7');
  });
});
