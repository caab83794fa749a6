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
    expect((await run(first, `${first}@x.y`)).id).toBe(one.id);
    expect((await run(second, `${second}@x.y`)).id).toBe(other.id);
    expect(effects.created).toHaveLength(2);
  });

  it('takes a key of 255 characters, emoji included, and finds it again', async () => {
    const key = `${'🔑'.repeat(10)}${'k'.repeat(235)}`;
    const first = await run(key);
    expect((await run(key)).id).toBe(first.id);
    expect(first.idempotencyKey).toBe(key);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED for a key sent with another input or workflow', async () => {
    const http = () => request(app.getHttpServer());
    const first = await http()
      .post(`${API}/workflows/onboarding/run`)
      .set('Idempotency-Key', 'reuse-1')
      .send({ email: 'r@s.t', tags: { a: 1, b: [1, 2] } });
    expect(first.status).toBe(200);
    // The same request, its keys in another order: the same run.
    const same = await http()
      .post(`${API}/workflows/onboarding/run`)
      .set('Idempotency-Key', 'reuse-1')
      .send({ tags: { b: [1, 2], a: 1 }, email: 'r@s.t' });
    expect(same.status).toBe(200);
    expect(same.body.id).toBe(first.body.id);
    const runsBefore = (await http().get(`${API}/workflows/runs?limit=500`)).body.items.length;
    for (const body of [
      { email: 'other@s.t' },
      { email: 'r@s.t', tags: { a: 1, b: [2, 1] } },
      {},
    ]) {
      const other = await http()
        .post(`${API}/workflows/onboarding/run`)
        .set('Idempotency-Key', 'reuse-1')
        .send(body);
      expect(other.status).toBe(422);
      expect(other.body).toMatchObject({ statusCode: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
    }
    await host.defineWorkflow({
      name: 'just-create',
      steps: [{ id: 'create', capability: 'crm.create', with: { email: '{{input.email}}' } }],
    });
    await expect(
      host.runWorkflow(
        'just-create',
        { email: 'r@s.t', tags: { a: 1, b: [1, 2] } },
        {
          idempotencyKey: 'reuse-1',
        },
      ),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    // Nothing ran or was written for the refused requests.
    expect(effects.created).toEqual(['r@s.t']);
    expect((await http().get(`${API}/workflows/runs?limit=500`)).body.items).toHaveLength(
      runsBefore,
    );
  });

  it('starts one run for a key sent to two app instances at once', async () => {
    const second = await createTestApp({
      database: { ...db.options, synchronize: false },
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      host: { workflows: [ONBOARDING] },
    });
    try {
      const other = second.get(PluginHostService);
      for (let round = 0; round < 5; round++) {
        const key = `Twin-${round}`;
        const [a, b] = await Promise.all([
          host.runWorkflow('onboarding', { email: `${key}@x.y` }, { idempotencyKey: key }),
          other.runWorkflow('onboarding', { email: `${key}@x.y` }, { idempotencyKey: key }),
        ]);
        expect(b.id).toBe(a.id);
      }
      // One run each: the crm step ran once per key, whichever instance ran it.
      expect([...effects.created].sort()).toEqual(
        [0, 1, 2, 3, 4].map((round) => `Twin-${round}@x.y`).sort(),
      );
    } finally {
      await second.close();
    }
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
