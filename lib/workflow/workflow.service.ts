import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { callStore } from '../store-call.util.js';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import type { JsonObject, JsonValue } from '../entities/plugin.entity.js';
import { findEventEmitter, type Emitter } from '../event-emitter.util.js';
import type { ResolvedPluginHostOptions } from '../interfaces/plugin-host-options.interface.js';
import { cloneJson, jsonViolationDetails, jsonViolationError, sameJson } from '../json.util.js';
import { PLUGIN_HOST_EVENT_PREFIX } from '../plugin-host.constants.js';
import {
  IdempotencyKeyReusedError,
  PluginHostError,
  PluginValidationError,
  WorkflowDefinedInCodeError,
  WorkflowNotFoundError,
  WorkflowRunNotFoundError,
} from '../plugin-host.errors.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from '../plugin-host.module-definition.js';
import { PluginHostService } from '../plugin-host.service.js';
import { isPluginSlug } from '../slug.util.js';
import { PluginSyncService } from '../sync/plugin-sync.service.js';
import { assertWorkflowDefinition } from './workflow-definition.util.js';
import { evaluateCondition, renderTemplates } from './workflow-template.util.js';
import { WORKFLOW_STORE } from './workflow.constants.js';
import type {
  StoredWorkflow,
  TriggerWorkflowOptions,
  WorkflowDefinition,
  WorkflowError,
  WorkflowRun,
  WorkflowRunPage,
  WorkflowRunQuery,
  WorkflowRunStatus,
  WorkflowStep,
  WorkflowStepRecord,
} from './workflow.interface.js';
import type { WorkflowStore } from './workflow.store.js';
import { describeThrown } from '../thrown.util.js';

/** The instance lost a run to another one (its heartbeat went stale): stop quietly. */
class LostRun extends Error {}

const TERMINAL: ReadonlySet<WorkflowRunStatus> = new Set(['succeeded', 'failed', 'compensated']);
const NOT_RETRYABLE = new Set(['PLUGIN_DISABLED', 'CAPABILITY_NOT_FOUND', 'VALIDATION_FAILED']);
const RUN_STATUSES: ReadonlySet<string> = new Set([
  'pending',
  'running',
  'succeeded',
  'failed',
  'compensated',
]);

/** A run this instance executes: its latest copy and the queue its writes go through. */
interface ActiveRun {
  run: WorkflowRun;
  queue: Promise<unknown>;
  done: Promise<WorkflowRun>;
}

/**
 * Workflows: capabilities composed as ordered steps sharing state, with templates, conditions,
 * retries with backoff, time limits, continue-on-error and compensation. Definitions come from code
 * (module option `workflows`, `defineWorkflow`) or from REST (stored, validated, propagated between
 * instances). Every run is persisted after each step; a run whose instance stops is taken over by
 * another once its heartbeat is stale, and resumes after its last completed step, so no completed
 * step runs twice.
 */
@Injectable()
export class PluginWorkflowService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('PluginHost');
  private readonly code = new Map<string, StoredWorkflow>();
  private runtime = new Map<string, StoredWorkflow>();
  private readonly active = new Map<string, ActiveRun>();
  private emitter: Emitter | undefined;
  private recoverTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Whether {@link hashOlderKeys} has run to the end in this process. */
  private olderKeysHashed = false;
  /** Aborted at shutdown: a run waiting out a retry backoff stops waiting (and does not retry). */
  private readonly shutdown = new AbortController();
  private queue: QueueLike | undefined;
  private worker: WorkerLike | undefined;

  constructor(
    @Inject(WORKFLOW_STORE) private readonly store: WorkflowStore,
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
    private readonly host: PluginHostService,
    private readonly sync: PluginSyncService,
    private readonly moduleRef: ModuleRef,
  ) {
    host.attachWorkflows(this);
    // One listener per run waiting out a backoff: any number may wait at once.
    setMaxListeners(0, this.shutdown.signal);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.emitter = await findEventEmitter(this.moduleRef);
    for (const definition of this.options.workflows) this.define(definition);
    await this.reloadDefinitions();
    this.sync.addFingerprint(() => this.store.definitionsFingerprint());
    if (this.options.workflowQueue) await this.startQueue(this.options.workflowQueue);
    await this.recover();
    if (this.options.workflowRecoveryMs > 0) {
      this.recoverTimer = setInterval(() => void this.recover(), this.options.workflowRecoveryMs);
      this.recoverTimer.unref();
    }
  }

  /** Lets other instances take over this instance's unfinished runs at once. */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.shutdown.abort();
    clearInterval(this.recoverTimer);
    await this.worker?.close().catch(() => undefined);
    await this.queue?.close().catch(() => undefined);
    await Promise.all(
      [...this.active.values()].map((active) =>
        this.write(active, (run) => ({ ...run, owner: null, heartbeatAt: null })).catch(
          () => undefined,
        ),
      ),
    );
    this.active.clear();
  }

  // ---------------------------------------------------------------- definitions

  /** Defines (or replaces) a workflow in code. Its capabilities must be registered. */
  define(definition: WorkflowDefinition): StoredWorkflow {
    this.validate(definition);
    const stored: StoredWorkflow = {
      ...cloneJson(definition as unknown as JsonObject),
      source: 'code',
      version: (this.code.get(definition.name)?.version ?? 0) + 1,
      updatedAt: new Date(),
    } as unknown as StoredWorkflow;
    this.code.set(definition.name, stored);
    return stored;
  }

  /** Every definition, code and runtime, sorted by name. */
  list(): StoredWorkflow[] {
    const all = new Map([...this.runtime, ...this.code]);
    return [...all.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** One definition; `WorkflowNotFoundError` if none. */
  get(name: string): StoredWorkflow {
    const found = this.code.get(name) ?? this.runtime.get(name);
    if (!found) throw new WorkflowNotFoundError(String(name));
    return found;
  }

  /** Creates or replaces a runtime definition (stored, and announced to the other instances). */
  async put(definition: unknown, actor = 'system'): Promise<StoredWorkflow> {
    this.validate(definition);
    if (this.code.has(definition.name)) throw new WorkflowDefinedInCodeError(definition.name);
    const stored = await this.storeCall(() => this.store.saveDefinition(definition));
    this.runtime.set(stored.name, stored);
    this.emit('workflow.defined', { name: stored.name, version: stored.version, actor });
    await this.announce(actor);
    return stored;
  }

  /** Removes a runtime definition. Runs already started keep their own copy and finish. */
  async remove(name: string, actor = 'system'): Promise<void> {
    if (this.code.has(name)) throw new WorkflowDefinedInCodeError(name);
    this.get(name);
    await this.storeCall(() => this.store.deleteDefinition(name));
    this.runtime.delete(name);
    this.emit('workflow.removed', { name, actor });
    await this.announce(actor);
  }

  /** Reloads the runtime definitions from the store (after another instance changed them). */
  async reloadDefinitions(): Promise<void> {
    const stored = await this.store.definitions();
    this.runtime = new Map(stored.map((d) => [d.name, d]));
  }

  // ---------------------------------------------------------------- runs

  /**
   * Starts a run. With `wait` (the default) resolves the finished run; otherwise the pending run at
   * once. An `idempotencyKey` already used resolves that run instead of starting another.
   */
  async trigger(
    name: string,
    input: unknown = {},
    options: TriggerWorkflowOptions = {},
  ): Promise<WorkflowRun> {
    const definition = this.get(name);
    const violations = jsonViolationDetails(input, this.options.maxJsonDepth, 'input');
    if (violations.length) throw jsonViolationError(violations);
    const key = options.idempotencyKey;
    if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 255)) {
      throw new PluginValidationError('An idempotency key must be 1 to 255 characters.');
    }
    const now = new Date();
    const run: WorkflowRun = {
      id: randomUUID(),
      workflow: name,
      status: 'pending',
      input: cloneJson((input ?? {}) as JsonValue),
      state: { input: cloneJson((input ?? {}) as JsonValue), steps: {} },
      currentStep: 0,
      steps: definition.steps.map((step) => ({
        id: step.id,
        capability: step.capability,
        status: 'pending',
        attempts: 0,
      })),
      error: null,
      idempotencyKey: key ?? null,
      definition: {
        name: definition.name,
        description: definition.description,
        steps: definition.steps,
      },
      owner: this.queue ? QUEUE_OWNER : this.host.instanceId,
      heartbeatAt: now,
      actor: (options.actor ?? 'system').slice(0, 255),
      version: 1,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
    };
    if (run.definition.description === undefined) delete run.definition.description;
    const stored = await this.storeCall(() => this.store.createRun(run));
    if (stored.id !== run.id) {
      if (stored.workflow !== run.workflow || !sameJson(stored.input, run.input)) {
        throw new IdempotencyKeyReusedError();
      }
      return options.wait === false || TERMINAL.has(stored.status)
        ? stored
        : this.waitFor(stored.id);
    }
    this.emit('workflow.run.started', { run: stored });
    if (this.queue) {
      await this.enqueue(stored.id, 0);
      return options.wait === false ? stored : this.waitFor(stored.id);
    }
    const done = this.start(stored);
    return options.wait === false ? stored : done;
  }

  /** One run; `WorkflowRunNotFoundError` if none. */
  async run(id: string): Promise<WorkflowRun> {
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id))
      throw new WorkflowRunNotFoundError(String(id));
    const found = this.active.get(id)?.run ?? (await this.storeCall(() => this.store.getRun(id)));
    if (!found) throw new WorkflowRunNotFoundError(id);
    return found;
  }

  /** A page of runs, newest first, optionally for one workflow and/or status. */
  async runs(query: WorkflowRunQuery = {}): Promise<WorkflowRunPage> {
    const limit = query.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new PluginValidationError('limit must be an integer from 1 to 500.');
    }
    if (query.workflow !== undefined && !isPluginSlug(query.workflow)) {
      throw new PluginValidationError('workflow must be a workflow name.');
    }
    if (query.status !== undefined && !RUN_STATUSES.has(query.status)) {
      throw new PluginValidationError(`status must be one of ${[...RUN_STATUSES].join(', ')}.`);
    }
    if (query.cursor !== undefined && !/^[0-9TZ:.+-]{10,40}\|[0-9a-f-]{36}$/.test(query.cursor)) {
      throw new PluginValidationError('cursor must be a nextCursor from a previous page.');
    }
    return this.storeCall(() => this.store.listRuns({ ...query, limit }));
  }

  /** Waits until a run finishes (it may execute on another instance). */
  async waitFor(id: string, timeoutMs = this.options.workflowWaitMs): Promise<WorkflowRun> {
    const local = this.queue ? undefined : this.active.get(id);
    if (local) return local.done;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await this.run(id);
      if (TERMINAL.has(run.status) || Date.now() > deadline) return run;
      await sleep(50);
    }
  }

  // ---------------------------------------------------------------- execution

  /** Executes a run this instance owns; resolves the finished run. */
  private start(run: WorkflowRun): Promise<WorkflowRun> {
    let finish!: (run: WorkflowRun) => void;
    const active: ActiveRun = {
      run,
      queue: Promise.resolve(),
      done: new Promise<WorkflowRun>((resolve) => (finish = resolve)),
    };
    this.active.set(run.id, active);
    const beat = setInterval(() => {
      void this.write(active, (r) => r).catch(() => undefined);
    }, this.options.workflowHeartbeatMs);
    beat.unref();
    void this.execute(active)
      .catch(async (error: unknown) => {
        if (error instanceof LostRun || this.stopping) return;
        this.logger.error(
          `Workflow run ${run.id} stopped on an internal error: ${describeThrown(error, { stack: true })}`,
        );
      })
      .finally(() => {
        clearInterval(beat);
        this.active.delete(run.id);
        finish(active.run);
      });
    return active.done;
  }

  private async execute(active: ActiveRun): Promise<void> {
    await this.write(active, (r) => ({ ...r, status: 'running' }));
    const steps = active.run.definition.steps;
    for (let i = active.run.currentStep; i < steps.length; i++) {
      if (!(await this.step(active, i))) return;
    }
    await this.complete(active);
  }

  /**
   * Runs step `i` of a run (or skips it: done already, or its condition does not hold). Resolves
   * `false` when the step failed the run (which has then been compensated and recorded).
   */
  private async step(active: ActiveRun, i: number): Promise<boolean> {
    const step = active.run.definition.steps[i];
    const record = active.run.steps[i];
    if (record.status === 'succeeded' || record.status === 'skipped') return true;
    if (record.status === 'failed') return this.afterFailure(active, step, i, record.error);
    if (step.when && !evaluateCondition(step.when, active.run.state)) {
      await this.write(active, (r) =>
        withStep(r, i, { status: 'skipped', finishedAt: iso() }, i + 1),
      );
      this.emit('workflow.step.skipped', { run: active.run, step: step.id });
      return true;
    }
    await this.write(active, (r) =>
      withStep(r, i, { status: 'running', startedAt: iso(), attempts: 0 }),
    );
    this.emit('workflow.step.started', { run: active.run, step: step.id });
    const result = await this.attempt(active, step, i);
    if (result.ok) {
      await this.write(active, (r) => {
        const next = withStep(
          r,
          i,
          { status: 'succeeded', output: result.output, finishedAt: iso() },
          i + 1,
        );
        return withState(next, step.id, { output: result.output });
      });
      this.emit('workflow.step.succeeded', { run: active.run, step: step.id });
      return true;
    }
    await this.write(active, (r) =>
      withStep(r, i, { status: 'failed', error: result.error, finishedAt: iso() }),
    );
    this.emit('workflow.step.failed', { run: active.run, step: step.id, error: result.error });
    return this.afterFailure(active, step, i, result.error);
  }

  /**
   * What follows a failed step: the next step (`onError: 'continue'`), or compensation and the end
   * of the run. Also where a run resumes whose owner stopped after recording the failure (while
   * compensating, say): the failed step never runs again, and steps already compensated are not
   * compensated twice.
   */
  private async afterFailure(
    active: ActiveRun,
    step: WorkflowStep,
    i: number,
    error: WorkflowError = { code: 'CAPABILITY_FAILED', message: 'failed' },
  ): Promise<boolean> {
    if (step.onError === 'continue') {
      await this.write(active, (r) =>
        withState({ ...r, currentStep: i + 1 }, step.id, {
          error: error as unknown as JsonObject,
        }),
      );
      return true;
    }
    await this.fail(active, i, { ...error, step: step.id });
    return false;
  }

  private async complete(active: ActiveRun): Promise<void> {
    await this.write(active, (r) => ({
      ...r,
      status: 'succeeded',
      owner: null,
      finishedAt: new Date(),
    }));
    this.emit('workflow.run.succeeded', { run: active.run });
  }

  // ---------------------------------------------------------------- BullMQ executor

  /** Starts the queue and this instance's worker (`workflowQueue` option). */
  private async startQueue(
    settings: NonNullable<ResolvedPluginHostOptions['workflowQueue']>,
  ): Promise<void> {
    let bullmq: {
      Queue: new (...args: unknown[]) => QueueLike;
      Worker: new (...args: unknown[]) => WorkerLike;
    };
    try {
      bullmq = (await import('bullmq')) as unknown as typeof bullmq;
    } catch {
      throw new Error(
        'The workflowQueue option of PluginHostModule needs the `bullmq` package: npm install bullmq',
      );
    }
    const connection = { ...redisOptions(settings.connection), maxRetriesPerRequest: null };
    const name = settings.name ?? 'plugin-host-workflows';
    const lockDuration = settings.lockDurationMs ?? 30_000;
    this.queue = new bullmq.Queue(name, { connection });
    this.worker = new bullmq.Worker(name, (job: { data: StepJob }) => this.process(job.data), {
      connection,
      concurrency: settings.concurrency ?? 10,
      lockDuration,
      stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
      maxStalledCount: 1_000,
    });
    this.worker.on('error', (error: Error) =>
      this.logger.warn(`Workflow worker: ${error.message}`),
    );
  }

  /**
   * Queues a stale run's current step again: a job that failed (its step's commit hit a store
   * error, say) is retried, a missing one added; one waiting or running is left alone.
   */
  private async requeue(runId: string, step: number): Promise<void> {
    const job = await this.queue!.getJob(`${runId}-${step}`);
    if (!job) await this.enqueue(runId, step);
    else if (await job.isFailed()) await job.retry();
  }

  private enqueue(runId: string, step: number): Promise<unknown> {
    return this.queue!.add('step', { runId, step } satisfies StepJob, {
      jobId: `${runId}-${step}`,
      removeOnComplete: 1_000,
      removeOnFail: 1_000,
    });
  }

  /**
   * One queued step: on whichever instance's worker takes the job. A job whose worker died is handed
   * to another by BullMQ's stalled-job check and runs its step again; completed steps are skipped.
   */
  private async process(job: StepJob): Promise<void> {
    const run = await this.store.getRun(job.runId);
    if (!run || TERMINAL.has(run.status)) return;
    const active: ActiveRun = { run, queue: Promise.resolve(), done: Promise.resolve(run) };
    if (run.currentStep > job.step) {
      // This step was committed, but the instance that ran it may have stopped before queuing
      // what follows (queuing a job that exists already does nothing).
      if (run.currentStep >= run.definition.steps.length) await this.complete(active);
      else await this.enqueue(run.id, run.currentStep);
      return;
    }
    if (run.status === 'pending') await this.write(active, (r) => ({ ...r, status: 'running' }));
    const steps = run.definition.steps;
    if (active.run.currentStep < steps.length && !(await this.step(active, active.run.currentStep)))
      return;
    if (active.run.currentStep >= steps.length) await this.complete(active);
    else await this.enqueue(run.id, active.run.currentStep);
  }

  /** Runs one step's capability with its retry policy; never throws for the capability's errors. */
  private async attempt(
    active: ActiveRun,
    step: WorkflowStep,
    index: number,
  ): Promise<{ ok: true; output: JsonValue } | { ok: false; error: WorkflowError }> {
    const attempts = step.retry?.attempts ?? 1;
    let wait = step.retry?.backoffMs ?? 100;
    let error: WorkflowError = { code: 'CAPABILITY_FAILED', message: 'not run' };
    for (let n = 1; n <= attempts; n++) {
      await this.write(active, (r) => withStep(r, index, { attempts: n }));
      try {
        const input = renderTemplates(step.with, active.run.state);
        const output = await this.host.runCapability(step.capability, input, {
          actor: active.run.actor,
          timeoutMs: step.timeoutMs,
        });
        return { ok: true, output: output === undefined ? null : cloneJson(output as JsonValue) };
      } catch (caught) {
        error = toWorkflowError(caught);
        if (NOT_RETRYABLE.has(error.code) || n === attempts || this.stopping) break;
        // Rejects at shutdown: the run is left to the instance that takes it over. (A queued
        // step finishes instead: its job would otherwise fail for good.)
        await delay(wait, undefined, { signal: this.queue ? undefined : this.shutdown.signal });
        wait *= step.retry?.factor ?? 2;
      }
    }
    return { ok: false, error };
  }

  /** Compensates completed steps in reverse order, then records the run as failed or compensated. */
  private async fail(active: ActiveRun, failedAt: number, error: WorkflowError): Promise<void> {
    const steps = active.run.definition.steps;
    // Counting those compensated before a takeover (see `afterFailure`).
    let compensated = active.run.steps.filter((record) => record.status === 'compensated').length;
    let failedCompensations = 0;
    for (let j = failedAt - 1; j >= 0; j--) {
      const step = steps[j];
      if (!step.compensate || active.run.steps[j].status !== 'succeeded') continue;
      try {
        const state = { ...active.run.state, error: error as unknown as JsonObject };
        await this.host.runCapability(
          step.compensate.capability,
          renderTemplates(step.compensate.with, state),
          {
            actor: active.run.actor,
            timeoutMs: step.timeoutMs,
          },
        );
        compensated++;
        await this.write(active, (r) => withStep(r, j, { status: 'compensated' }));
        this.emit('workflow.step.compensated', { run: active.run, step: step.id });
      } catch (caught) {
        failedCompensations++;
        this.logger.error(
          `Compensation of step "${step.id}" of run ${active.run.id} failed: ${(caught as Error)?.message}`,
        );
      }
    }
    const status: WorkflowRunStatus =
      compensated > 0 && failedCompensations === 0 ? 'compensated' : 'failed';
    await this.write(active, (r) => ({ ...r, status, error, owner: null, finishedAt: new Date() }));
    this.emit(`workflow.run.${status}`, { run: active.run, error });
  }

  /** Applies a change to a run and stores it with a compare-and-set; one write at a time per run. */
  private write(
    active: ActiveRun,
    change: (run: WorkflowRun) => WorkflowRun,
  ): Promise<WorkflowRun> {
    const next = active.queue.then(async () => {
      const current = active.run;
      const now = new Date();
      const updated: WorkflowRun = {
        ...change(current),
        version: current.version + 1,
        updatedAt: now,
      };
      if (updated.owner !== null) updated.heartbeatAt = now;
      if (!(await this.store.saveRun(updated, current.version))) throw new LostRun();
      active.run = updated;
      return updated;
    });
    active.queue = next.catch(() => undefined);
    return next;
  }

  /** Takes over runs whose instance stopped (stale heartbeat) and resumes them. */
  private async recover(): Promise<void> {
    if (this.stopping) return;
    await this.hashOlderKeys();
    let abandoned: WorkflowRun[];
    try {
      abandoned = await this.store.abandonedRuns(
        new Date(Date.now() - this.options.workflowStaleMs),
      );
    } catch (error) {
      this.logger.warn(`Could not look for abandoned workflow runs: ${(error as Error).message}`);
      return;
    }
    for (const run of abandoned) {
      if (this.active.has(run.id)) continue;
      if (run.owner === QUEUE_OWNER) {
        // BullMQ hands a stalled job to another worker; what it cannot know of is a job never
        // queued (an instance stopped between committing a step, or creating the run, and queuing
        // the next job). Queuing the current step again does nothing if its job exists.
        if (this.queue) {
          await this.requeue(run.id, run.currentStep).catch((error: Error) =>
            this.logger.warn(`Could not requeue workflow run ${run.id}: ${error.message}`),
          );
        }
        continue;
      }
      const claimed: WorkflowRun = {
        ...run,
        owner: this.host.instanceId,
        heartbeatAt: new Date(),
        version: run.version + 1,
        updatedAt: new Date(),
      };
      if (!(await this.store.saveRun(claimed, run.version).catch(() => false))) continue;
      this.logger.log(
        `Resuming workflow run ${run.id} (${run.workflow}) at step ${run.currentStep + 1}.`,
      );
      this.emit('workflow.run.resumed', { run: claimed });
      void this.start(claimed);
    }
  }

  /**
   * Fills in the key hashes a schema upgrade left empty, once per process: at boot, or at the first
   * recovery pass that reaches the store. (Until then the store still finds such a run by its key,
   * through the plain index, at the cost of one more query for a new key.)
   */
  private async hashOlderKeys(): Promise<void> {
    if (this.olderKeysHashed || !this.store.hashOlderKeys) return;
    try {
      const hashed = await this.store.hashOlderKeys();
      this.olderKeysHashed = true;
      if (hashed > 0)
        this.logger.log(`Hashed the idempotency keys of ${hashed} older workflow runs.`);
    } catch (error) {
      this.logger.warn(
        `Could not hash the idempotency keys of older workflow runs: ${describeThrown(error)}`,
      );
    }
  }

  private storeCall<T>(operation: () => Promise<T>): Promise<T> {
    return callStore(operation, this.logger, 'Workflow');
  }

  private validate(definition: unknown): asserts definition is WorkflowDefinition {
    assertWorkflowDefinition(
      definition,
      (slug) => this.host.hasCapability(slug),
      this.options.maxJsonDepth,
    );
  }

  private async announce(actor: string): Promise<void> {
    await this.sync.publish({
      instance: this.host.instanceId,
      action: 'updated',
      actor,
      kind: 'workflow',
      changes: [],
    });
  }

  private emit(name: string, payload: object): void {
    try {
      this.emitter?.emit(`${PLUGIN_HOST_EVENT_PREFIX}.${name}`, payload);
    } catch (error) {
      this.logger.error(
        `A listener of ${PLUGIN_HOST_EVENT_PREFIX}.${name} threw: ${describeThrown(error)}`,
      );
    }
  }
}

/** The owner of runs executed through the queue (BullMQ, not heartbeats, recovers them). */
const QUEUE_OWNER = 'bullmq';

/** A queued step. */
interface StepJob {
  runId: string;
  step: number;
}

interface QueueLike {
  add(name: string, data: StepJob, options: object): Promise<unknown>;
  getJob(id: string): Promise<{ isFailed(): Promise<boolean>; retry(): Promise<void> } | undefined>;
  close(): Promise<void>;
}

interface WorkerLike {
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(force?: boolean): Promise<void>;
}

/** ioredis options from a `redis://` URL or an options object. */
function redisOptions(connection: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof connection !== 'string') return { ...connection };
  const url = new URL(connection);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function withStep(
  run: WorkflowRun,
  index: number,
  change: Partial<WorkflowStepRecord>,
  currentStep = run.currentStep,
): WorkflowRun {
  const steps = run.steps.map((record, i) => (i === index ? { ...record, ...change } : record));
  return { ...run, steps, currentStep };
}

function withState(run: WorkflowRun, stepId: string, value: JsonObject): WorkflowRun {
  const steps = { ...(run.state.steps as JsonObject | undefined), [stepId]: value };
  return { ...run, state: { ...run.state, steps } };
}

function toWorkflowError(error: unknown): WorkflowError {
  if (error instanceof PluginHostError) return { code: error.code, message: error.message };
  let status: unknown;
  try {
    status = (error as { getStatus?: () => unknown } | null)?.getStatus?.();
  } catch {
    status = undefined;
  }
  const message = describeThrown(error).slice(0, 1000);
  if (typeof status === 'number') return { code: `HTTP_${status}`, message };
  return { code: 'CAPABILITY_FAILED', message };
}

const iso = () => new Date().toISOString();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
