import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  PluginHostService,
  PluginValidationError,
  WORKFLOW_STORE,
  workflowCapability,
  type WorkflowDefinition,
  type WorkflowRun,
} from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { createSqliteDatabase, type TestDatabase } from '../src/databases.js';
import { waitFor } from '../src/tcp-proxy.js';
import { effects, ONBOARDING, WorkflowSteps } from '../src/workflow.fixture.js';

const API = '/api/plugin-host';
const apps: INestApplication[] = [];
async function boot(options: Parameters<typeof createTestApp>[0] = {}) {
  const app = await createTestApp({
    providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
    ...options,
    host: { workflows: [ONBOARDING], ...options.host },
  });
  apps.push(app);
  return app;
}
beforeEach(() => effects.reset());
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

const define = (host: PluginHostService, definition: WorkflowDefinition) =>
  host.defineWorkflow(definition);

describe('workflow runs', () => {
  it('runs steps in order, passing state through templates', async () => {
    const host = (await boot()).get(PluginHostService);
    const run = await host.runWorkflow('onboarding', { email: 'ada@example.com' });
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['create', 'succeeded', 1],
      ['welcome', 'succeeded', 1],
    ]);
    expect(run.state).toMatchObject({
      input: { email: 'ada@example.com' },
      steps: { create: { output: { id: 'u-1' } }, welcome: { output: { sent: true } } },
    });
    expect(effects.welcomed).toEqual(['u-1->ada@example.com']);
    expect(run.finishedAt).toBeInstanceOf(Date);
  });

  it('retries with backoff and records the attempts', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'retrying',
      steps: [
        {
          id: 'flaky',
          capability: 'flaky.call',
          with: { key: 'r1', failTimes: 2 },
          retry: { attempts: 3, backoffMs: 40, factor: 2 },
        },
      ],
    });
    const started = Date.now();
    const run = await host.runWorkflow('retrying', {});
    expect(run.status).toBe('succeeded');
    expect(run.steps[0]).toMatchObject({ attempts: 3, output: { attempt: 3 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40 + 80);
  });

  it('fails a step past its time limit', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'slow',
      steps: [{ id: 'wait', capability: 'slowwf.wait', with: { ms: 2_000 }, timeoutMs: 50 }],
    });
    const run = await host.runWorkflow('slow', {});
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'CAPABILITY_TIMEOUT', step: 'wait' });
  });

  it('continues past a failing step marked onError: continue', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'tolerant',
      steps: [
        { id: 'boom', capability: 'boom.fail', onError: 'continue' },
        { id: 'create', capability: 'crm.create', with: { email: 'x@y.z' } },
      ],
    });
    const run = await host.runWorkflow('tolerant', {});
    expect(run.status).toBe('succeeded');
    expect(run.steps.map((s) => s.status)).toEqual(['failed', 'succeeded']);
    expect(run.state).toMatchObject({ steps: { boom: { error: { code: 'CAPABILITY_FAILED' } } } });
  });

  it('compensates completed steps in reverse order when the run fails', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'compensating',
      steps: [
        ...ONBOARDING.steps.slice(0, 1),
        { id: 'boom', capability: 'boom.fail' },
      ] as WorkflowDefinition['steps'],
    });
    const run = await host.runWorkflow('compensating', { email: 'c@d.e' });
    expect(run.status).toBe('compensated');
    expect(run.error).toMatchObject({ step: 'boom', code: 'CAPABILITY_FAILED' });
    expect(run.steps.map((s) => s.status)).toEqual(['compensated', 'failed']);
    expect(effects.deleted).toEqual(['u-1:CAPABILITY_FAILED']);
  });

  it('skips a step whose condition does not hold', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'conditional',
      steps: [
        { id: 'create', capability: 'crm.create', with: { email: '{{input.email}}' } },
        {
          id: 'welcome',
          capability: 'greet.welcome',
          with: { to: '{{input.email}}', userId: '{{steps.create.output.id}}' },
          when: { path: 'input.welcome', equals: true },
        },
      ],
    });
    const skipped = await host.runWorkflow('conditional', { email: 'a@b.c', welcome: false });
    expect(skipped.steps.map((s) => s.status)).toEqual(['succeeded', 'skipped']);
    const ran = await host.runWorkflow('conditional', { email: 'a@b.c', welcome: true });
    expect(ran.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('refuses a step whose plugin was disabled mid-run, at the moment it starts', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'gated',
      steps: [
        { id: 'wait', capability: 'slowwf.wait', with: { ms: 150 } },
        { id: 'create', capability: 'crm.create', with: { email: 'g@h.i' } },
      ],
    });
    const pending = host.runWorkflow('gated', {});
    await waitFor(() => effects.slowStarted === 1);
    await host.disable('crm');
    const run = await pending;
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'PLUGIN_DISABLED', step: 'create' });
    expect(run.steps[1].attempts).toBe(1);
    expect(effects.created).toEqual([]);
  });

  it('returns the first run for a repeated idempotency key', async () => {
    const host = (await boot()).get(PluginHostService);
    const first = await host.runWorkflow(
      'onboarding',
      { email: 'i@j.k' },
      { idempotencyKey: 'signup-42' },
    );
    const second = await host.runWorkflow(
      'onboarding',
      { email: 'i@j.k' },
      { idempotencyKey: 'signup-42' },
    );
    expect(second.id).toBe(first.id);
    expect(effects.created).toEqual(['i@j.k']);
  });

  it('runs as a capability: workflowCapability() and @Capability({ workflow })', async () => {
    const host = (await boot()).get(PluginHostService);
    await host.registerCapability('signup.start', workflowCapability('onboarding'));
    const run = await host.runCapability<object, WorkflowRun>('signup.start', { email: 'w@x.y' });
    expect(run).toMatchObject({ workflow: 'onboarding', status: 'succeeded' });
    await host.registerCapability(
      'signup.later',
      workflowCapability('onboarding', { wait: false }),
    );
    const started = await host.runCapability<object, { runId: string }>('signup.later', {
      email: 'l@m.n',
    });
    expect(started.runId).toMatch(/^[0-9a-f-]{36}$/);
    const mapped = await host.runCapability<object, WorkflowRun>('users.onboard', {
      address: 'm@n.o',
    });
    expect(mapped).toMatchObject({ status: 'succeeded', input: { email: 'm@n.o' } });
  });

  it('refuses an invalid definition with every problem listed', () => {
    return boot().then((app) => {
      const host = app.get(PluginHostService);
      let problems: string[] = [];
      try {
        define(host, {
          name: 'Bad Name',
          steps: [
            { id: 'a', capability: 'nope.missing', retry: { attempts: 0 } },
            { id: 'a', capability: 'crm.create', with: { x: '{{steps.later.output}}' } },
          ],
        } as never);
      } catch (error) {
        problems = (error as { errors: string[] }).errors;
      }
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringContaining('name'),
          expect.stringContaining('not registered'),
          expect.stringContaining('attempts'),
          expect.stringContaining('used twice'),
          expect.stringContaining('does not run before'),
        ]),
      );
    });
  });
});

describe('workflows over REST', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    app = await boot();
    apps.splice(apps.indexOf(app), 1);
  });
  afterAll(() => app?.close());

  it('locates every problem of a definition in details, and stores nothing', async () => {
    const invalid = await http()
      .put(`${API}/workflows/located`)
      .send({
        description: 7,
        color: 'red',
        steps: [
          { id: 'Bad Id', capability: 'nope.x', retry: { attempts: 99 } },
          { id: 'second', capability: 'greet.welcome', with: { to: '{{steps.later.to}}' } },
          { id: 'third', capability: 'greet.welcome', when: { any: [] }, extra: true },
        ],
      });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('VALIDATION_FAILED');
    expect(invalid.body.details.map((d: { path: string }) => d.path)).toEqual([
      'definition.color',
      'definition.description',
      'definition.steps[0].id',
      'definition.steps[0].capability',
      'definition.steps[0].retry.attempts',
      'definition.steps[1].with',
      'definition.steps[2].extra',
      'definition.steps[2].when',
    ]);
    for (const { path, message } of invalid.body.details as Array<Record<string, string>>) {
      // Each message names its place, as the flat `errors` list always has.
      expect(message).toContain(path.slice('definition.'.length));
    }
    expect(invalid.body.details.map((d: { message: string }) => d.message)).toEqual(
      invalid.body.errors,
    );
    expect((await http().get(`${API}/workflows/located`)).status).toBe(404);
  });

  it('refuses the mistakes a definition could hide (typos, stray keys, wrong types)', async () => {
    const invalid = await http()
      .put(`${API}/workflows/hidden`)
      .send({
        steps: [
          { id: 'a', capability: 'greet.welcome', retry: { attempts: 2, backofMs: 5 } },
          { id: 'b', capability: 'greet.welcome', when: { path: 'input.x', exists: 'yes' } },
          {
            id: 'c',
            capability: 'greet.welcome',
            compensate: { capability: 'crm.delete', nope: 1 },
          },
          {
            id: 'd',
            capability: 'greet.welcome',
            compensate: { capability: 'crm.delete', with: 'x' },
          },
          {
            id: 'e',
            capability: 'greet.welcome',
            when: { all: [{ path: 'input.x', equals: 1 }], path: 'zzz' },
          },
        ],
      });
    expect(invalid.status).toBe(400);
    expect(invalid.body.details.map((d: { path: string }) => d.path)).toEqual([
      'definition.steps[0].retry.backofMs',
      'definition.steps[1].when.exists',
      'definition.steps[2].compensate.nope',
      'definition.steps[3].compensate.with',
      'definition.steps[4].when',
    ]);
    expect((await http().get(`${API}/workflows/hidden`)).status).toBe(404);
  });

  it('refuses a description no store keeps as sent (NUL, unpaired surrogate)', async () => {
    for (const description of ['a\u0000b', 'x\udc00']) {
      const invalid = await http()
        .put(`${API}/workflows/odd-text`)
        .send({ description, steps: [{ id: 'hi', capability: 'greet.welcome' }] });
      expect([invalid.status, invalid.body.details?.[0]?.path]).toEqual([
        400,
        'definition.description',
      ]);
    }
    expect((await http().get(`${API}/workflows/odd-text`)).status).toBe(404);
  });

  it('locates a run input the JSON rules refuse, from code', async () => {
    const host = app.get(PluginHostService);
    const input = { nested: { at: Number.NaN } };
    const refused = await host.workflows.trigger('onboarding', input).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PluginValidationError);
    expect((refused as PluginValidationError).details).toEqual([
      { path: 'input.nested.at', message: expect.stringContaining('input.nested.at') },
    ]);
  });

  it('defines, lists, runs, pages and deletes runtime workflows', async () => {
    const invalid = await http()
      .put(`${API}/workflows/welcome-only`)
      .send({ steps: [{ id: 'x', capability: 'nope.x' }] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('VALIDATION_FAILED');
    const defined = await http()
      .put(`${API}/workflows/welcome-only`)
      .send({
        steps: [
          {
            id: 'welcome',
            capability: 'greet.welcome',
            with: { to: '{{input.to}}', userId: 'u-0' },
          },
        ],
      });
    expect(defined.status).toBe(200);
    expect(defined.body).toMatchObject({ name: 'welcome-only', source: 'runtime', version: 1 });
    const listed = (await http().get(`${API}/workflows`)).body.map(
      (w: { name: string; source: string }) => `${w.name}:${w.source}`,
    );
    expect(listed).toEqual(['onboarding:code', 'welcome-only:runtime']);

    const waited = await http().post(`${API}/workflows/welcome-only/run`).send({ to: 'r@s.t' });
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ status: 'succeeded', workflow: 'welcome-only' });

    const queued = await http()
      .post(`${API}/workflows/onboarding/run?wait=false`)
      .set('Idempotency-Key', 'k-1')
      .send({ email: 'q@r.s' });
    expect(queued.status).toBe(202);
    await waitFor(
      async () =>
        (await http().get(`${API}/workflows/runs/${queued.body.id}`)).body.status === 'succeeded',
    );
    const again = await http()
      .post(`${API}/workflows/onboarding/run`)
      .set('Idempotency-Key', 'k-1')
      .send({ email: 'q@r.s' });
    expect(again.body.id).toBe(queued.body.id);

    const page = await http().get(
      `${API}/workflows/runs?workflow=onboarding&status=succeeded&limit=1`,
    );
    expect(page.body.items).toHaveLength(1);
    expect(page.body.items[0].workflow).toBe('onboarding');
    const all = (await http().get(`${API}/workflows/runs?limit=500`)).body.items;
    expect(all.length).toBe(2);

    expect((await http().put(`${API}/workflows/onboarding`).send(ONBOARDING)).body.code).toBe(
      'WORKFLOW_DEFINED_IN_CODE',
    );
    await http().delete(`${API}/workflows/welcome-only`).expect(204);
    expect((await http().get(`${API}/workflows/welcome-only`)).body.code).toBe(
      'WORKFLOW_NOT_FOUND',
    );
    expect(
      (await http().get(`${API}/workflows/runs/00000000-0000-0000-0000-000000000000`)).body.code,
    ).toBe('WORKFLOW_RUN_NOT_FOUND');
    expect((await http().get(`${API}/workflows/runs?status=done`)).status).toBe(400);
    expect((await http().post(`${API}/workflows/nope/run`).send({})).body.code).toBe(
      'WORKFLOW_NOT_FOUND',
    );
  });
});

describe('workflow runs survive a restart', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createSqliteDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  /**
   * Starts `definition` on one instance, closes it once `stopWhen` holds (a graceful close hands
   * the run over at once), and resolves the run as the next instance finishes it.
   */
  async function handedOver(
    definition: WorkflowDefinition,
    stopWhen: () => boolean,
  ): Promise<WorkflowRun> {
    const options = {
      database: db.options,
      host: { workflowStaleMs: 60_000, workflowHeartbeatMs: 50 },
    };
    const first = await boot(options);
    define(first.get(PluginHostService), definition);
    const pending = await first
      .get(PluginHostService)
      .runWorkflow(definition.name, {}, { wait: false });
    await waitFor(stopWhen);
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    const second = await boot(options);
    return second.get(PluginHostService).workflows.waitFor(pending.id, 10_000);
  }

  it('resumes an unfinished run on the next instance without repeating completed steps', async () => {
    // The second instance never defines 'long': the run carries its own copy of the definition.
    const run = await handedOver(
      {
        name: 'long',
        steps: [
          { id: 'create', capability: 'crm.create', with: { email: 'long@run.x' } },
          { id: 'wait', capability: 'slowwf.wait', with: { ms: 300 } },
          {
            id: 'welcome',
            capability: 'greet.welcome',
            with: { to: 'long@run.x', userId: '{{steps.create.output.id}}' },
          },
        ],
      },
      () => effects.slowStarted === 1,
    );
    expect(run.status).toBe('succeeded');
    expect(effects.created).toEqual(['long@run.x']); // the completed step did not run again
    expect(effects.slowStarted).toBe(2); // the interrupted step ran again
    expect(effects.welcomed).toEqual(['u-1->long@run.x']);
    // The run kept the definition it started with.
    expect(run.steps.map((s) => s.id)).toEqual(['create', 'wait', 'welcome']);
  });

  it('finishes the compensation of a run whose owner stopped while compensating', async () => {
    const run = await handedOver(
      {
        name: 'undoing',
        steps: [
          {
            id: 'create',
            capability: 'crm.create',
            with: { email: 'undo@run.x' },
            compensate: { capability: 'slowwf.wait', with: { ms: 300 } },
          },
          // Fails once, then would succeed: a re-run would wrongly finish the run.
          { id: 'charge', capability: 'flaky.call', with: { key: 'undo', failTimes: 1 } },
        ],
      },
      () => effects.slowStarted === 1, // compensating 'create'
    );
    expect(run.status).toBe('compensated');
    expect(run.steps.map((s) => s.status)).toEqual(['compensated', 'failed']);
    expect(effects.flaky.get('undo')).toBe(1); // the failed step did not run again
  });
});

describe('a capability that throws something other than an Error', () => {
  it('fails the workflow step and finishes the run', async () => {
    const host = (await boot()).get(PluginHostService);
    define(host, {
      name: 'odd-failure',
      steps: [{ id: 'odd', capability: 'boom.fail', with: { odd: true } }],
    });
    const run = await host.runWorkflow('odd-failure', {});
    expect({ status: run.status, error: run.error }).toMatchObject({
      status: 'failed',
      error: { step: 'odd', code: 'CAPABILITY_FAILED', message: '{"reason":"odd"}' },
    });
  });

  it('answers 500 INTERNAL_ERROR for an output JSON cannot hold, on either platform', async () => {
    const app = await boot();
    const failed = await request(app.getHttpServer())
      .post(`${API}/capabilities/boom.bigint/run`)
      .send({});
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(failed.body.correlationId).toEqual(expect.any(String));
  });

  it('answers 500 CAPABILITY_FAILED with a correlation id over REST', async () => {
    const app = await boot();
    const failed = await request(app.getHttpServer())
      .post(`${API}/capabilities/boom.fail/run`)
      .send({ odd: true });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ code: 'CAPABILITY_FAILED' });
    expect(failed.body.correlationId).toEqual(expect.any(String));
  });
});

describe('shutdown', () => {
  it('stops a run waiting out a retry backoff, without another attempt', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    define(host, {
      name: 'backing-off',
      steps: [
        {
          id: 'flaky',
          capability: 'flaky.call',
          with: { key: 'shutdown', failTimes: 5 },
          retry: { attempts: 3, backoffMs: 300 },
        },
      ],
    });
    await host.workflows.trigger('backing-off', {}, { wait: false });
    await waitFor(() => effects.flaky.get('shutdown') === 1);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    // Past the backoff: a retry that shutdown did not stop would have run by now.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(effects.flaky.get('shutdown')).toBe(1);
  });
});

describe('a run taken over after all its compensations were done', () => {
  it('ends compensated, as it would have without the stop', async () => {
    const app = await boot({
      host: { workflowRecoveryMs: 50, workflowStaleMs: 100, workflowHeartbeatMs: 30 },
    });
    const host = app.get(PluginHostService);
    const definition = {
      name: 'undo2',
      steps: [
        {
          id: 'create',
          capability: 'crm.create',
          with: { email: 'x@y.z' },
          compensate: { capability: 'crm.delete', with: { id: 'u-1' } },
        },
        { id: 'charge', capability: 'boom.fail' },
      ],
    };
    host.defineWorkflow(definition);
    const store = app.get<{ createRun(run: unknown): Promise<unknown> }>(WORKFLOW_STORE);
    const old = new Date(Date.now() - 60_000);
    const id = '00000000-0000-4000-8000-000000000001';
    await store.createRun({
      id,
      workflow: 'undo2',
      status: 'running',
      input: {},
      state: { input: {}, steps: { create: { output: { id: 'u-1' } } } },
      currentStep: 1,
      steps: [
        { id: 'create', capability: 'crm.create', status: 'compensated', attempts: 1 },
        {
          id: 'charge',
          capability: 'boom.fail',
          status: 'failed',
          attempts: 1,
          error: { code: 'CAPABILITY_FAILED', message: 'boom' },
        },
      ],
      error: null,
      idempotencyKey: null,
      definition,
      owner: 'dead-instance',
      heartbeatAt: old,
      actor: 'system',
      version: 5,
      createdAt: old,
      updatedAt: old,
      finishedAt: null,
    });
    const run = await host.workflows.waitFor(id, 5_000);
    expect(effects.deleted).toEqual([]); // not compensated twice
    expect(run.status).toBe('compensated');
  });
});
describe('many runs waiting out a retry backoff', () => {
  it('prints no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const app = await boot();
      const host = app.get(PluginHostService);
      host.defineWorkflow({
        name: 'many',
        steps: [
          {
            id: 'f',
            capability: 'flaky.call',
            with: { key: '{{input.key}}', failTimes: 1 },
            retry: { attempts: 2, backoffMs: 200 },
          },
        ],
      });
      const runs = await Promise.all(
        Array.from({ length: 12 }, (_, i) => host.runWorkflow('many', { key: `k${i}` })),
      );
      expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
  });
});
