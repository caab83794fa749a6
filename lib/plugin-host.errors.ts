import { MESSAGES } from './plugin-host.messages.js';

/**
 * Stable machine-readable codes carried by every error the module raises, and by the `code` field of
 * every JSON error body the REST API answers.
 */
export type PluginHostErrorCode =
  | 'VALIDATION_FAILED'
  | 'FORBIDDEN'
  | 'PLUGIN_NOT_FOUND'
  | 'CAPABILITY_NOT_FOUND'
  | 'PLUGIN_EXISTS'
  | 'PLUGIN_DISABLED'
  | 'PLUGIN_IN_USE'
  | 'VERSION_CONFLICT'
  | 'WRITE_CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'CAPABILITY_FAILED'
  | 'CAPABILITY_LOOP'
  | 'CAPABILITY_TIMEOUT'
  | 'DUPLICATE_CAPABILITY'
  | 'DUPLICATE_HOSTED_PLUGIN'
  | 'STORE_FULL'
  | 'STORE_UNAVAILABLE'
  | 'AUDIT_UNAVAILABLE'
  | 'WORKFLOW_NOT_FOUND'
  | 'WORKFLOW_RUN_NOT_FOUND'
  | 'WORKFLOW_DEFINED_IN_CODE'
  | 'IDEMPOTENCY_KEY_REUSED';

/**
 * Base class of every error the module throws. `status` is the HTTP status the REST API answers with;
 * `code` is stable across versions and safe to branch on.
 */
export abstract class PluginHostError extends Error {
  /** Stable error code, also sent as `code` in REST error bodies. */
  abstract readonly code: PluginHostErrorCode;
  /** HTTP status the REST API maps this error to. */
  abstract readonly status: number;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * One violation with its location, as listed in `details` of a `VALIDATION_FAILED` body. The path's
 * first segment names what was checked: `body` (the request body, e.g. `body.labelEn`,
 * `body.smtp.__proto__`, `body.list[2]`), `config` (the plugin's config after the change, e.g.
 * `config.smtp.port`), `definition` (a workflow definition, e.g. `definition.steps[1].retry.attempts`),
 * `input` (a workflow run's input), or `$` (a value handed to the service in code).
 */
export interface PluginValidationDetail {
  /** Dotted path of the offending value. @example 'config.smtp.port' */
  path: string;
  /** What is wrong there. @example 'port must not be greater than 65535' */
  message: string;
}

/** Input that breaks a rule: a bad slug, a non-object config, a forbidden key. HTTP 400. */
export class PluginValidationError extends PluginHostError {
  readonly code = 'VALIDATION_FAILED';
  readonly status = 400;
  /** Every violation found, when there is more than one. */
  readonly errors: string[];
  /** The violations that have a location, with their paths (empty when none has one). */
  readonly details: PluginValidationDetail[];

  constructor(
    message: string,
    errors: string[] = [message],
    details: PluginValidationDetail[] = [],
  ) {
    super(message);
    this.errors = errors;
    this.details = details;
  }
}

/** No plugin is hosted under this slug. HTTP 404. */
export class PluginNotFoundError extends PluginHostError {
  readonly code = 'PLUGIN_NOT_FOUND';
  readonly status = 404;

  constructor(readonly slug: string) {
    super(MESSAGES.pluginNotFound(slug));
  }
}

/** `register` of a slug that already has a record. HTTP 409. */
export class PluginExistsError extends PluginHostError {
  readonly code = 'PLUGIN_EXISTS';
  readonly status = 409;

  constructor(readonly slug: string) {
    super(MESSAGES.pluginExists(slug));
  }
}

/** A capability was run while its owning plugin is disabled. HTTP 409. */
export class PluginDisabledError extends PluginHostError {
  readonly code = 'PLUGIN_DISABLED';
  readonly status = 409;

  constructor(
    readonly plugin: string,
    readonly capability: string,
    /** Whether the instance's kill switch (not the store) turned it off. */
    readonly forced = false,
  ) {
    super(
      forced
        ? MESSAGES.pluginForcedOff(plugin, capability)
        : MESSAGES.pluginDisabled(plugin, capability),
    );
  }
}

/** `remove` of a plugin that still owns registered capabilities. HTTP 409. */
export class PluginInUseError extends PluginHostError {
  readonly code = 'PLUGIN_IN_USE';
  readonly status = 409;

  constructor(
    readonly slug: string,
    readonly capabilities: string[],
  ) {
    super(MESSAGES.pluginInUse(slug, capabilities));
  }
}

/** No capability is registered under this slug. HTTP 404. */
export class CapabilityNotFoundError extends PluginHostError {
  readonly code = 'CAPABILITY_NOT_FOUND';
  readonly status = 404;

  constructor(readonly slug: string) {
    super(MESSAGES.capabilityNotFound(slug));
  }
}

/**
 * A capability threw. The service rethrows the capability's own error; the REST layer wraps it in this
 * error (HTTP 500) so no internal message or stack reaches the client.
 */
export class CapabilityFailedError extends PluginHostError {
  readonly code = 'CAPABILITY_FAILED';
  readonly status = 500;

  constructor(
    readonly slug: string,
    readonly correlationId: string,
    cause?: unknown,
  ) {
    super(MESSAGES.capabilityFailed(slug), { cause });
  }
}

/** A capability ran past its time limit. HTTP 504; its `ctx.signal` was aborted. */
export class CapabilityTimeoutError extends PluginHostError {
  readonly code = 'CAPABILITY_TIMEOUT';
  readonly status = 504;

  constructor(
    readonly slug: string,
    readonly timeoutMs: number,
  ) {
    super(MESSAGES.capabilityTimeout(slug, timeoutMs));
  }
}

/** A capability chain (`ctx.run`) went deeper than 32 calls: almost surely a loop. HTTP 508. */
export class CapabilityLoopError extends PluginHostError {
  readonly code = 'CAPABILITY_LOOP';
  readonly status = 508;

  constructor(
    readonly slug: string,
    readonly depth: number,
  ) {
    super(MESSAGES.capabilityDepth(slug, depth));
  }
}

/** Two methods declare the same capability slug. Raised at bootstrap. */
export class DuplicateCapabilityError extends PluginHostError {
  readonly code = 'DUPLICATE_CAPABILITY';
  readonly status = 409;

  constructor(
    readonly slug: string,
    first: string,
    second: string,
  ) {
    super(MESSAGES.duplicateCapability(slug, first, second));
  }
}

/** Two classes declare `@HostedPlugin` for one slug with different defaults. Raised at bootstrap. */
export class DuplicateHostedPluginError extends PluginHostError {
  readonly code = 'DUPLICATE_HOSTED_PLUGIN';
  readonly status = 409;

  constructor(
    readonly slug: string,
    first: string,
    second: string,
  ) {
    super(MESSAGES.duplicateHostedPlugin(slug, first, second));
  }
}

/**
 * The client's `expectedVersion` / `If-Match` is stale. HTTP 412; nothing was written. Over REST the
 * body carries `slug` and `currentVersion` (the stored version), and the answer `ETag: "<version>"`.
 */
export class PluginVersionConflictError extends PluginHostError {
  readonly code = 'VERSION_CONFLICT';
  readonly status = 412;

  constructor(
    readonly slug: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(MESSAGES.versionConflict(slug, expectedVersion, actualVersion));
  }
}

/**
 * `reorder()` with an `expectedNavFingerprint` (over REST, `PUT /nav/order` with `If-Match`) that is
 * no longer the navigation's: someone changed the order, or a plugin in it, since it was read. HTTP
 * 412 (`VERSION_CONFLICT`); nothing was written. Over REST the answer carries the current
 * fingerprint as `ETag: W/"<fingerprint>"`.
 */
export class PluginNavOrderConflictError extends PluginHostError {
  readonly code = 'VERSION_CONFLICT';
  readonly status = 412;

  constructor(
    /** The fingerprint the caller sent. */
    readonly expectedFingerprint: string,
    /** The navigation's fingerprint now, as `navFingerprint()` gives it. */
    readonly actualFingerprint: string,
  ) {
    super(MESSAGES.navOrderConflict);
  }
}

/** A write lost the compare-and-set race too many times in a row. HTTP 409; nothing was written. */
export class PluginWriteConflictError extends PluginHostError {
  readonly code = 'WRITE_CONFLICT';
  readonly status = 409;

  constructor(
    readonly slug: string,
    retriedForMs: number,
  ) {
    super(MESSAGES.writeContention(slug, retriedForMs));
  }
}

/** A config over `maxConfigBytes`. HTTP 413. */
export class PluginPayloadTooLargeError extends PluginHostError {
  readonly code = 'PAYLOAD_TOO_LARGE';
  readonly status = 413;
}

/** The in-memory store is at its `memoryLimit`; it never evicts. HTTP 507. */
export class PluginStoreFullError extends PluginHostError {
  readonly code = 'STORE_FULL';
  readonly status = 507;

  constructor(readonly limit: number) {
    super(MESSAGES.storeFull(limit));
  }
}

/** The store could not be reached for a write. HTTP 503; memory was not changed. */
export class PluginStoreUnavailableError extends PluginHostError {
  readonly code = 'STORE_UNAVAILABLE';
  readonly status = 503;

  constructor(cause?: unknown) {
    super(MESSAGES.storeUnavailable, { cause });
  }
}

/** The store keeps no audit log (a custom store without `audit()`). HTTP 501. */
export class PluginAuditUnavailableError extends PluginHostError {
  readonly code = 'AUDIT_UNAVAILABLE';
  readonly status = 501;

  constructor() {
    super('This plugin store keeps no audit log.');
  }
}

/** No workflow is defined under this name. HTTP 404. */
export class WorkflowNotFoundError extends PluginHostError {
  readonly code = 'WORKFLOW_NOT_FOUND';
  readonly status = 404;

  constructor(readonly workflow: string) {
    super(`Workflow "${workflow}" is not defined.`);
  }
}

/** No run has this id. HTTP 404. */
export class WorkflowRunNotFoundError extends PluginHostError {
  readonly code = 'WORKFLOW_RUN_NOT_FOUND';
  readonly status = 404;

  constructor(readonly runId: string) {
    super(`Workflow run "${runId.slice(0, 64)}" does not exist.`);
  }
}

/** A runtime change to a workflow that code defines. HTTP 409. */
export class WorkflowDefinedInCodeError extends PluginHostError {
  readonly code = 'WORKFLOW_DEFINED_IN_CODE';
  readonly status = 409;

  constructor(readonly workflow: string) {
    super(`Workflow "${workflow}" is defined in code; change it there, not at runtime.`);
  }
}

/**
 * An idempotency key already used for another request: a run of another workflow, or with another
 * input. HTTP 422, as the IETF `Idempotency-Key` header draft asks. Resending the same request with
 * the key returns its run; a new request needs a new key.
 */
export class IdempotencyKeyReusedError extends PluginHostError {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly status = 422;

  constructor() {
    super(
      'This idempotency key was already used for another request (another workflow or another input); use a new key.',
    );
  }
}
