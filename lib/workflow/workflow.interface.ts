import type { JsonObject, JsonValue } from '../entities/plugin.entity.js';

/** A condition on a run's state, for a step's `when`. Paths are dotted: `steps.check.output.ok`. */
export type WorkflowCondition =
  | { path: string; equals: JsonValue }
  | { path: string; notEquals: JsonValue }
  | { path: string; exists: boolean }
  | { all: WorkflowCondition[] }
  | { any: WorkflowCondition[] }
  | { not: WorkflowCondition };

/** Retry policy of a step. */
export interface WorkflowRetry {
  /** Attempts in all, the first included. @default 1 */
  attempts: number;
  /** Wait before the second attempt. @default 100 */
  backoffMs?: number;
  /** Each later wait is the previous one times this. @default 2 */
  factor?: number;
}

/** A capability call run to undo a completed step when the run fails. */
export interface WorkflowCompensation {
  capability: string;
  /** Input, with templates over the run's state (which now holds `error`). */
  with?: JsonObject;
}

/**
 * One step: a capability and its input. String values in `with` may use templates over the run's
 * state: `{{input.userId}}`, `{{steps.create.output.id}}`. A string that is exactly one template
 * keeps the value's type; otherwise the values are interpolated as text.
 */
export interface WorkflowStep {
  /** Unique within the workflow; how later steps refer to this one's output. @example 'create' */
  id: string;
  /** The capability to run. @example 'crm.createUser' */
  capability: string;
  /** The capability's input. */
  with?: JsonObject;
  /** Retry policy; attempts include the first. */
  retry?: WorkflowRetry;
  /** Time limit of one attempt. */
  timeoutMs?: number;
  /** `fail` stops the run (and compensates); `continue` records the error and goes on. @default 'fail' */
  onError?: 'fail' | 'continue';
  /** Undo for this step, run in reverse order for completed steps when the run fails. */
  compensate?: WorkflowCompensation;
  /** Run the step only when this holds; otherwise it is `skipped`. */
  when?: WorkflowCondition;
}

/** A named, ordered list of steps. */
export interface WorkflowDefinition {
  /** 1-63 lower-case letters, digits or dashes. @example 'onboarding' */
  name: string;
  description?: string;
  steps: WorkflowStep[];
}

/** A definition as the host keeps it. */
export interface StoredWorkflow extends WorkflowDefinition {
  /** `code` (module option or `defineWorkflow`) or `runtime` (REST, stored in the database). */
  source: 'code' | 'runtime';
  /** Incremented by every change of a runtime definition. */
  version: number;
  updatedAt: Date;
}

export type WorkflowRunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'compensated';
export type WorkflowStepStatus =
  'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'compensated';

/** An error as a run records it. */
export interface WorkflowError {
  code: string;
  message: string;
  /** The step it happened in. */
  step?: string;
}

/** What a run records of each step. */
export interface WorkflowStepRecord {
  id: string;
  capability: string;
  status: WorkflowStepStatus;
  attempts: number;
  output?: JsonValue;
  error?: WorkflowError;
  startedAt?: string;
  finishedAt?: string;
}

/** One execution of a workflow. */
export interface WorkflowRun {
  id: string;
  workflow: string;
  status: WorkflowRunStatus;
  input: JsonValue;
  /** What templates and conditions read: `{ input, steps: { <id>: { output } | { error } } }`. */
  state: JsonObject;
  /** Index of the next step to run. */
  currentStep: number;
  steps: WorkflowStepRecord[];
  error: WorkflowError | null;
  idempotencyKey: string | null;
  /** The definition as it was when the run started; later edits do not change a run. */
  definition: WorkflowDefinition;
  /** The instance executing it, while it runs. */
  owner: string | null;
  heartbeatAt: Date | null;
  actor: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** Options of a trigger. */
export interface TriggerWorkflowOptions {
  /** Wait for the run to finish and resolve it (default), or resolve the pending run at once. */
  wait?: boolean;
  /** A second trigger with the same key returns the first run instead of starting another. */
  idempotencyKey?: string;
  /** Who started it. @default 'system' */
  actor?: string;
}

/** Filters and paging of `workflowRuns()`. */
export interface WorkflowRunQuery {
  workflow?: string;
  status?: WorkflowRunStatus;
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of runs, newest first. */
export interface WorkflowRunPage {
  items: WorkflowRun[];
  nextCursor: string | null;
}
