import type { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  PluginHostService,
  PluginWorkflowService,
  WORKFLOW_STORE,
  type WorkflowDefinition,
} from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { createSqliteDatabase, type TestDatabase } from '../src/databases.js';
import { waitFor } from '../src/tcp-proxy.js';
import { effects, WorkflowSteps } from '../src/workflow.fixture.js';

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LONG: WorkflowDefinition = {
  name: 'long',
  steps: [
    { id: 'create', capability: 'crm.create', with: { email: 'queued@run.x' } },
    { id: 'wait', capability: 'slowwf.wait', with: { ms: 1_500 } },
    {
      id: 'welcome',
      capability: 'greet.welcome',
      with: { to: 'queued@run.x', userId: '{{steps.create.output.id}}' },
    },
  ],
};

describe('workflows on the BullMQ executor (real Redis)', () => {
  let db: TestDatabase;
  const queue = { connection: REDIS, name: `nph-${randomUUID()}`, lockDurationMs: 1_000 };
  const boot = (): Promise<INestApplication> =>
    createTestApp({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      host: { workflows: [LONG], workflowQueue: queue, syncIntervalMs: 0 },
    });
  beforeAll(async () => {
    db = await createSqliteDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(() => effects.reset());

  it('runs steps as jobs and finishes the run', async () => {
    const app = await boot();
    try {
      const run = await app.get(PluginHostService).runWorkflow('long', {});
      expect(run.status).toBe('succeeded');
      expect(run.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(effects.created).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it('resumes a run on another worker after its worker dies mid-step, never repeating a completed step', async () => {
    const first = await boot();
    const pending = await first.get(PluginHostService).runWorkflow('long', {}, { wait: false });
    await waitFor(() => effects.slowStarted === 1, 10_000);
    // The worker dies mid-step: force-closed (its lock is not released), then the app goes away.
    await (
      first.get(PluginWorkflowService) as unknown as {
        worker: { close(force: boolean): Promise<void> };
      }
    ).worker.close(true);
    await first.close();

    const second = await boot();
    try {
      const run = await second.get(PluginWorkflowService).waitFor(pending.id, 20_000);
      expect(run.status).toBe('succeeded');
      expect(effects.created).toEqual(['queued@run.x']); // step 1 ran once
      expect(effects.slowStarted).toBe(2); // the interrupted step ran again, on the new worker
      expect(effects.welcomed).toEqual(['u-1->queued@run.x']);
    } finally {
      await second.close();
    }
  }, 60_000);

  it('finishes a run whose instance stopped between committing a step and queuing the next', async () => {
    const app = await createTestApp({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      host: {
        workflows: [LONG],
        workflowQueue: { ...queue, name: `nph-${randomUUID()}` },
        syncIntervalMs: 0,
        workflowStaleMs: 300,
        workflowRecoveryMs: 100,
      },
    });
    try {
      const engine = app.get(PluginWorkflowService) as unknown as {
        enqueue(runId: string, step: number): Promise<unknown>;
      };
      const enqueue = engine.enqueue.bind(engine);
      // The job for step 2 is never queued, as if the instance died right after step 1 committed.
      let dropped = false;
      engine.enqueue = (runId, step) => {
        if (step === 1 && !dropped) {
          dropped = true;
          return Promise.resolve();
        }
        return enqueue(runId, step);
      };
      const pending = await app.get(PluginHostService).runWorkflow('long', {}, { wait: false });
      const run = await app.get(PluginWorkflowService).waitFor(pending.id, 15_000);
      expect(dropped).toBe(true);
      expect(run.status).toBe('succeeded');
      expect(effects.created).toEqual(['queued@run.x']); // step 1 did not run again
      expect(effects.welcomed).toEqual(['u-1->queued@run.x']);
    } finally {
      await app.close();
    }
  }, 30_000);

  it('retries the job of a step whose commit hit a store error, through recovery', async () => {
    const app = await createTestApp({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      host: {
        workflows: [
          {
            name: 'two',
            steps: [
              { id: 'create', capability: 'crm.create', with: { email: 'q@x.y' } },
              { id: 'welcome', capability: 'greet.welcome', with: { to: 'q', userId: 'u' } },
            ],
          },
        ],
        workflowQueue: { connection: REDIS, name: `nph-${randomUUID()}` },
        syncIntervalMs: 0,
        workflowStaleMs: 300,
        workflowRecoveryMs: 100,
      },
    });
    try {
      const store = app.get<{ saveRun(...a: unknown[]): Promise<boolean> }>(WORKFLOW_STORE);
      const save = store.saveRun.bind(store);
      let blipped = false;
      store.saveRun = async (...args: unknown[]) => {
        const run = args[0] as { currentStep: number; status: string };
        if (!blipped && run.currentStep === 1 && run.status === 'running') {
          blipped = true;
          throw new Error('Connection terminated unexpectedly'); // one store blip
        }
        return save(...args);
      };
      const pending = await app.get(PluginHostService).runWorkflow('two', {}, { wait: false });
      const run = await app.get(PluginWorkflowService).waitFor(pending.id, 4_000);
      expect(blipped).toBe(true);
      expect(run.status).toBe('succeeded');
    } finally {
      await app.close();
    }
  }, 20_000);
});
