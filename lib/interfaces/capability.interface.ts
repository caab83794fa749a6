import type { JsonObject, Plugin } from '../entities/plugin.entity.js';
import type { PluginHostCapabilities } from '../index.js';
import type { TriggerWorkflowOptions, WorkflowRun } from '../workflow/workflow.interface.js';

/** Options of `@Capability()` and `registerCapability()`. */
export interface CapabilityOptions {
  /** Capability slug: plugin-slug parts joined by dots. @example 'newsletter.send' */
  slug: string;
  /**
   * Owning plugin slug. Defaults to the `@HostedPlugin` of the class, else the part of `slug` before
   * the first dot, else the slug itself.
   */
  plugin?: string;
  /** Shown in `GET /capabilities` and the admin page. */
  description?: string;
  /**
   * Make this capability trigger a workflow: the decorated method receives `(input, ctx)` and returns
   * the workflow's input (return `undefined` to pass the capability's input on as it is). The
   * capability resolves the finished run.
   */
  workflow?: string;
  /**
   * Time limit for runs over REST (and for code callers that pass `timeoutMs`). On expiry the caller
   * gets `CapabilityTimeoutError` (HTTP 504) and `ctx.signal` is aborted.
   * @default the module's `capabilityTimeoutMs` (30000)
   */
  timeoutMs?: number;
}

/** What `capabilities()` and `GET /capabilities` list. */
export interface CapabilityInfo {
  /** @example 'newsletter.send' */
  slug: string;
  /** Owning plugin slug. */
  plugin: string;
  /** Whether the owning plugin is enabled right now. */
  enabled: boolean;
  /** From the decorator, if given. */
  description?: string;
}

/** Per-call options a caller may pass to `runCapability`. */
export interface RunCapabilityOptions {
  /** The HTTP request that caused the call; used to resolve request-scoped providers. */
  request?: unknown;
  /** Who is calling; free text for logs and events. @default 'system' */
  actor?: string;
  /** Aborts the run: the caller's promise rejects with the signal's reason and `ctx.signal` aborts. */
  signal?: AbortSignal;
  /**
   * Give up after this many milliseconds with `CapabilityTimeoutError` (and abort `ctx.signal`).
   * Code calls have no limit unless given one; REST runs use {@link PluginHostService.timeoutOf}.
   */
  timeoutMs?: number;
  /** The context of the capability making this call (set by `ctx.run`). */
  parent?: CapabilityContext;
}

/**
 * Second argument of every capability call.
 *
 * @typeParam TConfig the shape of the owning plugin's config.
 */
export interface CapabilityContext<TConfig extends JsonObject = JsonObject> {
  /** The capability being run. @example 'newsletter.send' */
  readonly slug: string;
  /** Frozen snapshot of the owning plugin, taken when the call started. */
  readonly plugin: Readonly<Omit<Plugin, 'config'>> & { readonly config: Readonly<TConfig> };
  /** Who called; `system` for code. */
  readonly actor: string;
  /** The HTTP request, when the call came over REST or the caller passed one. */
  readonly request?: unknown;
  /** Aborted when the caller gives up. */
  readonly signal?: AbortSignal;
  /** The calling capability's context, when this call came from `ctx.run`. */
  readonly parent?: CapabilityContext;
  /** How many capabilities deep this call is (0 for a direct call). */
  readonly depth: number;
  /**
   * Run another capability as part of this one, with the same request, actor and signal. The other
   * capability's plugin must be enabled too.
   */
  /**
   * Triggers a workflow as part of this capability, with the same actor. Resolves the finished run
   * (or, with `{ wait: false }`, the pending one).
   */
  runWorkflow(
    workflow: string,
    input?: unknown,
    options?: TriggerWorkflowOptions,
  ): Promise<WorkflowRun>;
  run<S extends keyof PluginHostCapabilities>(
    slug: S,
    input: CapabilityInput<S>,
  ): Promise<CapabilityOutput<S>>;
  run<TIn = unknown, TOut = unknown, S extends string = string>(
    slug: UndeclaredSlug<S>,
    input?: TIn,
  ): Promise<TOut>;
}

/** A capability implementation. */
export type CapabilityHandler<TIn = any, TOut = any> = (
  input: TIn,
  ctx: CapabilityContext,
) => TOut | Promise<TOut>;

/** The input type declared for a capability in {@link PluginHostCapabilities}. */
export type CapabilityInput<S extends keyof PluginHostCapabilities> =
  PluginHostCapabilities[S] extends { input: infer I } ? I : unknown;

/** The output type declared for a capability in {@link PluginHostCapabilities}. */
export type CapabilityOutput<S extends keyof PluginHostCapabilities> =
  PluginHostCapabilities[S] extends { output: infer O } ? Awaited<O> : unknown;

/**
 * A slug not declared in {@link PluginHostCapabilities}; declared ones must go through the typed
 * overload, so their input is always checked.
 */
export type UndeclaredSlug<S extends string> = S extends keyof PluginHostCapabilities ? never : S;
