import { callStore } from './store-call.util.js';
import { describeThrown } from './thrown.util.js';
import {
  Inject,
  Injectable,
  type Type,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { CapabilityRegistry, type RegisteredCapability } from './capability.registry.js';
import {
  assertConfigMatches,
  locatedViolations,
  locateSecrets,
  maskSecrets,
  restoreMaskedSecrets,
  secretPaths,
} from './config-schema.util.js';
import { SecretCipher, sealedLookalikes } from './secret-cipher.util.js';
import { findEventEmitter, type Emitter } from './event-emitter.util.js';
import { PluginHostTelemetry } from './plugin-host.telemetry.js';
import type { JsonObject, JsonValue, Plugin } from './entities/plugin.entity.js';
import type { PluginHostCapabilities } from './index.js';
import type {
  StoredWorkflow,
  TriggerWorkflowOptions,
  WorkflowDefinition,
  WorkflowRun,
} from './workflow/workflow.interface.js';
import type { PluginWorkflowService } from './workflow/workflow.service.js';
import type {
  CapabilityInput,
  CapabilityOutput,
  UndeclaredSlug,
  CapabilityContext,
  CapabilityHandler,
  CapabilityInfo,
  CapabilityOptions,
  RunCapabilityOptions,
} from './interfaces/capability.interface.js';
import type {
  CapabilityFailedEvent,
  HostedPluginOptions,
  MutationOptions,
  NavItem,
  PluginChangeEvent,
  PluginChanges,
  ReorderOptions,
} from './interfaces/hosted-plugin.interface.js';
import type { ResolvedPluginHostOptions } from './interfaces/plugin-host-options.interface.js';
import type {
  PluginAuditPage,
  PluginAuditQuery,
  PluginAuditRecord,
  PluginInsert,
  PluginStore,
} from './interfaces/plugin-store.interface.js';
import type { PluginAuditAction } from './entities/plugin-audit-entry.entity.js';
import {
  assertJsonObject,
  cloneJson,
  deepFreeze,
  jsonByteLength,
  mergePatch,
  readPath,
} from './json.util.js';
import {
  MAX_CAPABILITY_DEPTH,
  PLUGIN_HOST_EVENT_PREFIX,
  PLUGIN_STORE,
} from './plugin-host.constants.js';
import {
  PluginAuditUnavailableError,
  CapabilityLoopError,
  CapabilityTimeoutError,
  CapabilityNotFoundError,
  PluginDisabledError,
  PluginExistsError,
  PluginInUseError,
  PluginNavOrderConflictError,
  PluginNotFoundError,
  PluginPayloadTooLargeError,
  PluginValidationError,
  PluginVersionConflictError,
  PluginWriteConflictError,
} from './plugin-host.errors.js';
import { MESSAGES } from './plugin-host.messages.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import type { PluginChangeNotice, PluginVersionNotice } from './sync/plugin-sync.interface.js';
import { PluginSyncService, type PluginSyncTarget } from './sync/plugin-sync.service.js';
import { assertPluginFields, REGISTER_FIELDS, UPDATABLE_FIELDS } from './plugin-validation.util.js';
import { assertCapabilitySlug, assertPluginSlug, impliedOwner } from './slug.util.js';

const FAILED_EVENT = `${PLUGIN_HOST_EVENT_PREFIX}.capability.failed`;

/** The audit action of each change event. */
const AUDIT_ACTIONS: Record<PluginChangeEvent['action'], PluginAuditAction> = {
  registered: 'register',
  enabled: 'toggle',
  disabled: 'toggle',
  configured: 'configure',
  updated: 'update',
  reordered: 'reorder',
  removed: 'remove',
};
const AUDIT_ACTION_NAMES: ReadonlySet<string> = new Set(Object.values(AUDIT_ACTIONS));

/** What `compareAndSet` attempts answer when the record moved on under them. */
const MISSED = Symbol('missed');

/** The `inLane` key of reorders: no plugin slug starts with a dot. */
const REORDER_LANE = '.reorder';

type Change = Partial<Omit<Plugin, 'slug' | 'version' | 'createdAt' | 'updatedAt'>>;

/**
 * The runtime plugin layer: every read is served synchronously from memory, every write goes through
 * the {@link PluginStore} with a compare-and-set on `version` (so concurrent writers never lose an
 * update) and then updates memory and emits an event.
 *
 * Inject it anywhere once `PluginHostModule.forRoot()` is imported.
 */
@Injectable()
export class PluginHostService implements OnModuleInit, OnApplicationBootstrap, PluginSyncTarget {
  private readonly logger = new Logger('PluginHost');
  private readonly plugins = new Map<string, Plugin>();
  private sortedCache: readonly Plugin[] | null = null;
  /**
   * A full reload reads a snapshot of the table that notices applied meanwhile may be newer than:
   * every change to memory gets the next number, kept per slug while a reload runs that started
   * before it, so the reload leaves those slugs alone.
   */
  private changeCount = 0;
  private readonly changedAt = new Map<string, number>();
  /** Where each running reload started (two may start at the same number). */
  private readonly reloadsFrom: number[] = [];
  private navFingerprintCache: { of: readonly Plugin[]; value: string } | null = null;
  private emitter: Emitter | undefined;
  private telemetry: PluginHostTelemetry | undefined;
  private readonly listeners = new Set<(event: PluginChangeEvent) => void>();
  private engine: PluginWorkflowService | undefined;
  private bootstrapped = false;
  private readonly lanes = new Map<string, Promise<unknown>>();
  /** This instance's id in change notices between instances. */
  readonly instanceId: string;
  private readonly forcedOff: ReadonlySet<string>;
  private readonly cipher: SecretCipher | undefined;
  private readonly schemas = new Map<string, { schema?: Type; secrets: string[] }>();
  private readonly redacted = new WeakMap<Plugin, Plugin>();

  constructor(
    @Inject(PLUGIN_STORE) private readonly store: PluginStore,
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
    private readonly registry: CapabilityRegistry,
    private readonly moduleRef: ModuleRef,
    private readonly sync: PluginSyncService,
  ) {
    this.instanceId = options.instanceId;
    this.forcedOff = options.forceDisabled;
    this.cipher = options.encryptionKeys?.length
      ? new SecretCipher(options.encryptionKeys)
      : undefined;
  }

  async onModuleInit(): Promise<void> {
    this.emitter = await findEventEmitter(this.moduleRef);
    this.telemetry = await PluginHostTelemetry.detect(this.options.tracing);
  }

  /**
   * Loads every record, starts listening to other instances, then inserts the code-declared defaults
   * that have no record yet. A store that cannot be read fails the boot with a clear message: an
   * instance that does not know which plugins are disabled must not serve them.
   */
  async onApplicationBootstrap(): Promise<void> {
    // Declared before the first load: their secret paths decide what it decrypts (and what every
    // later write encrypts and every answer masks).
    for (const declared of this.options.plugins) {
      this.registry.addHostedPlugin(declared, 'PluginHostModule.forRoot({ plugins })');
    }
    this.schemas.clear();
    try {
      await this.reloadAll();
    } catch (error) {
      throw new Error(
        `nest-plugin-host could not load plugins from its store (${this.store.description ?? 'custom store'}): ` +
          `${(error as Error)?.cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error)?.message}`,
        { cause: error },
      );
    }
    await this.sync.start(this);
    const owners = new Set<string>();
    for (const capability of this.registry.allCapabilities()) owners.add(capability.plugin);
    await this.ensure(
      ...this.options.plugins,
      ...[...this.registry.allHostedPlugins()].map(({ options }) => options),
      ...[...owners].map((slug) => ({ slug })),
    );
    this.bootstrapped = true;
    if (this.forcedOff.size) {
      this.logger.warn(
        `Kill switch: forced off on this instance: ${this.forcedDisabled().join(', ')}.`,
      );
      const unknown = this.forcedDisabled().filter((slug) => !this.plugins.has(slug));
      if (unknown.length) {
        this.logger.warn(
          `Kill switch names plugins that are not hosted (typo?): ${unknown.join(', ')}.`,
        );
      }
    }
    this.logger.log(
      `Hosting ${this.plugins.size} plugins and ${this.registry.capabilityCount} capabilities ` +
        `(store: ${this.store.description ?? 'custom'}; sync: ${this.sync.transportNames.join(', ') || 'none'}).`,
    );
  }

  // ---------------------------------------------------------------- reads (synchronous, memory only)

  /** The plugin under `slug`, or `undefined`. */
  find(slug: string): Plugin | undefined {
    return this.plugins.get(slug);
  }

  /** The plugin under `slug`; throws `PluginNotFoundError` if none (`PluginValidationError` for a bad slug). */
  get(slug: string): Plugin {
    assertPluginSlug(slug);
    const plugin = this.plugins.get(slug);
    if (!plugin) throw new PluginNotFoundError(slug);
    return plugin;
  }

  /** Every plugin, ordered by `sort` then `slug`. The array and its items are frozen. */
  list(): readonly Plugin[] {
    if (!this.sortedCache) {
      this.sortedCache = Object.freeze([...this.plugins.values()].sort(bySortThenSlug));
    }
    return this.sortedCache;
  }

  /**
   * Navigation entries: enabled plugins with `nav` on, ordered by `sort` then `slug`. With `lang` `ar`,
   * labels are Arabic where set (and `dir` is `rtl`); otherwise English; otherwise the slug.
   */
  nav(lang: string = 'en'): NavItem[] {
    const items: NavItem[] = [];
    for (const plugin of this.list()) {
      if (!plugin.nav || !this.isEnabled(plugin.slug)) continue;
      const arabic = lang === 'ar' && !!plugin.labelAr;
      items.push({
        slug: plugin.slug,
        label: arabic ? plugin.labelAr! : plugin.labelEn || plugin.slug,
        dir: arabic ? 'rtl' : 'ltr',
        sort: plugin.sort,
      });
    }
    return items;
  }

  /**
   * A short fingerprint of the navigation order: a hash of the slug, sort and version of every plugin
   * with `nav` on (enabled or not), in order. Any reorder, and any change to one of those plugins,
   * gives a new one. Over REST it is the weak `ETag` of `GET /nav` and `PUT /nav/order`; pass it back
   * as `reorder(slugs, { expectedNavFingerprint })` to reorder only if nothing moved meanwhile.
   *
   * @example 'kQ3h0Vx1c2Zk9aBd'
   */
  navFingerprint(): string {
    const list = this.list();
    if (this.navFingerprintCache?.of !== list) {
      const hash = createHash('sha1');
      for (const plugin of list) {
        if (plugin.nav) hash.update(`${plugin.slug}\0${plugin.sort}\0${plugin.version}\n`);
      }
      this.navFingerprintCache = { of: list, value: hash.digest('base64url').slice(0, 16) };
    }
    return this.navFingerprintCache.value;
  }

  /** Whether `slug` is hosted and enabled. Never throws. */
  isEnabled(slug: string): boolean {
    return this.plugins.get(slug)?.enabled === true && !this.forcedOff.has(slug);
  }

  /** Plugins the kill switch (`forceDisabled`, `PLUGIN_HOST_FORCE_DISABLED`) turns off on this instance. */
  forcedDisabled(): string[] {
    return [...this.forcedOff].sort();
  }

  /**
   * A value from a plugin's config by dotted path, or `fallback` when the plugin or the path is missing.
   * Without a path, the whole (frozen) config.
   *
   * @example host.configValue<string>('mail', 'smtp.host', 'localhost')
   */
  configValue<T = JsonValue>(slug: string, path?: string, fallback?: T): T | undefined {
    const plugin = this.plugins.get(slug);
    if (!plugin) return fallback;
    if (path === undefined || path === '') return plugin.config as T;
    const value = readPath(plugin.config, path);
    return value === undefined ? fallback : (value as T);
  }

  /** Whether a capability is registered under `slug` (a single Map lookup). */
  hasCapability(slug: string): boolean {
    return this.registry.getCapability(slug) !== undefined;
  }

  /** Every registered capability with its owner and whether it may run now, sorted by slug. */
  capabilities(): CapabilityInfo[] {
    const list: CapabilityInfo[] = [];
    for (const capability of this.registry.allCapabilities()) {
      const info: CapabilityInfo = {
        slug: capability.slug,
        plugin: capability.plugin,
        enabled: this.isEnabled(capability.plugin),
      };
      if (capability.description !== undefined) info.description = capability.description;
      list.push(info);
    }
    return list.sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  }

  // ---------------------------------------------------------------- capabilities

  /**
   * Registers a capability at runtime (discovery calls the same registry at bootstrap). Its owner gets
   * a record if it has none (enabled, no nav, kind `capability`). Resolves once that record exists.
   *
   * @throws DuplicateCapabilityError if the slug is taken.
   */
  async registerCapability(
    slugOrOptions: string | CapabilityOptions,
    handler: CapabilityHandler,
  ): Promise<CapabilityInfo> {
    const options = typeof slugOrOptions === 'string' ? { slug: slugOrOptions } : slugOrOptions;
    assertCapabilitySlug(options.slug);
    if (options.plugin !== undefined) assertPluginSlug(options.plugin);
    if (typeof handler !== 'function') {
      throw new PluginValidationError('A capability handler must be a function.');
    }
    const plugin = options.plugin ?? impliedOwner(options.slug);
    this.registry.addCapability({
      slug: options.slug,
      plugin,
      description: options.description,
      timeoutMs: options.timeoutMs,
      source: `registerCapability("${options.slug}")`,
      handler,
    });
    if (this.bootstrapped) {
      try {
        await this.ensure({ slug: plugin });
      } catch (error) {
        this.registry.removeCapability(options.slug);
        throw error;
      }
    }
    return this.capabilities().find((c) => c.slug === options.slug)!;
  }

  /**
   * Runs a capability by slug. Refused with `PluginDisabledError` while its owning plugin is disabled;
   * `CapabilityNotFoundError` for an unknown slug. Reads memory only: no database query on this path.
   * The capability's own errors are rethrown unchanged (and emitted as `plugin-host.capability.failed`).
   *
   * Types: slugs declared in {@link PluginHostCapabilities} get their input and output checked and
   * inferred; otherwise give them as `runCapability<TIn, TOut>(...)`.
   */
  runCapability<S extends keyof PluginHostCapabilities>(
    slug: S,
    input: CapabilityInput<S>,
    options?: RunCapabilityOptions,
  ): Promise<CapabilityOutput<S>>;
  runCapability<TIn = unknown, TOut = unknown, S extends string = string>(
    slug: UndeclaredSlug<S>,
    input?: TIn,
    options?: RunCapabilityOptions,
  ): Promise<TOut>;
  runCapability<TIn, TOut>(
    slug: string,
    input?: TIn,
    options?: RunCapabilityOptions,
  ): Promise<TOut> {
    if (this.telemetry === undefined) return this.execute<TOut>(slug, input, options);
    const owner = this.registry.getCapability(slug)?.plugin;
    return this.telemetry.run(slug, owner, () => this.execute<TOut>(slug, input, options));
  }

  /**
   * The hot path: two Map lookups, a context object, the call. Not `async`: the capability's own
   * promise is returned as it is, and failures are only intercepted when someone listens for them.
   */
  private execute<TOut>(
    slug: string,
    input: unknown,
    options: RunCapabilityOptions | undefined,
  ): Promise<TOut> {
    const capability = this.registry.getCapability(slug);
    if (capability === undefined) return Promise.reject(new CapabilityNotFoundError(slug));
    const plugin = this.plugins.get(capability.plugin);
    if (plugin === undefined || !plugin.enabled) {
      return Promise.reject(new PluginDisabledError(capability.plugin, slug));
    }
    if (this.forcedOff.size !== 0 && this.forcedOff.has(capability.plugin)) {
      return Promise.reject(new PluginDisabledError(capability.plugin, slug, true));
    }
    if (
      options !== undefined &&
      (options.timeoutMs !== undefined || options.signal !== undefined)
    ) {
      return this.runGuarded<TOut>(capability, plugin, input, options);
    }
    const ctx = new Context(this, slug, plugin, options);
    if (ctx.depth > MAX_CAPABILITY_DEPTH) {
      return Promise.reject(new CapabilityLoopError(slug, ctx.depth));
    }
    // Failures are only intercepted (and the clock read) when someone listens for them.
    const watched = this.emitter !== undefined && this.watchesFailures();
    const started = watched ? performance.now() : 0;
    let result: unknown;
    try {
      result = capability.handler(input, ctx);
    } catch (error) {
      this.failed(capability, ctx, error, started);
      return Promise.reject(error);
    }
    const settled = Promise.resolve(result) as Promise<TOut>;
    if (!watched) return settled;
    return settled.then(undefined, (error: unknown) => {
      this.failed(capability, ctx, error, started);
      throw error;
    });
  }

  /**
   * The time limit `POST /capabilities/:slug/run` applies: the capability's `timeoutMs`, else the
   * module's `capabilityTimeoutMs` (30 s by default).
   */
  timeoutOf(slug: string): number {
    return this.registry.getCapability(slug)?.timeoutMs ?? this.options.capabilityTimeoutMs;
  }

  /**
   * A run with a deadline and/or a caller's signal: the run rejects on either, and `ctx.signal`
   * aborts with it. The context's AbortController is only created when the capability reads
   * `ctx.signal` (most never do): one per request cost the REST run route several percent of its
   * throughput. The deadline's timer is only armed for a run still going at the end of the event
   * loop's turn (see {@link armLater}); most capabilities settle before.
   */
  private runGuarded<TOut>(
    capability: RegisteredCapability,
    plugin: Plugin,
    input: unknown,
    options: RunCapabilityOptions,
  ): Promise<TOut> {
    const caller = options.signal;
    if (caller?.aborted) return Promise.reject(caller.reason);
    const guard = new RunGuard();
    const ctx = new Context(this, capability.slug, plugin, options, guard);
    if (ctx.depth > MAX_CAPABILITY_DEPTH) {
      return Promise.reject(new CapabilityLoopError(capability.slug, ctx.depth));
    }
    const started = performance.now();
    const timeoutMs = options.timeoutMs;
    return new Promise<TOut>((resolve, reject) => {
      if (timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        guard.deadline = started + timeoutMs;
        guard.expired = () => new CapabilityTimeoutError(capability.slug, timeoutMs);
        armLater(guard);
      }
      const forward = caller === undefined ? undefined : () => guard.abort(caller.reason);
      if (forward) caller!.addEventListener('abort', forward, { once: true });
      const settle = (): boolean => {
        if (guard.settled) return false;
        guard.settled = true;
        guard.disarm();
        if (forward) caller!.removeEventListener('abort', forward);
        return true;
      };
      const fail = (error: unknown) => {
        if (!settle()) return;
        this.failed(capability, ctx, error, started);
        reject(error);
      };
      guard.onAbort = fail;
      let result: unknown;
      try {
        result = capability.handler(input, ctx);
      } catch (error) {
        fail(error);
        return;
      }
      Promise.resolve(result).then((value) => {
        if (settle()) resolve(value as TOut);
      }, fail);
    });
  }

  /** Whether a `plugin-host.capability.failed` listener exists (wildcards and onAny count). */
  private watchesFailures(): boolean {
    const emitter = this.emitter as Emitter & {
      hasListeners?: (event: string) => boolean;
      wildcard?: boolean;
      listenerCount?: (event: string) => number;
      listenersAny?: () => unknown[];
    };
    // EventEmitter2's hasListeners allocates nothing without wildcards (listenerCount copies the
    // listener array on every call of the hot path), and then counts onAny listeners too.
    if (typeof emitter.hasListeners === 'function') {
      if (emitter.hasListeners(FAILED_EVENT)) return true;
      return emitter.wildcard === true && (emitter.listenersAny?.().length ?? 0) > 0;
    }
    if (typeof emitter.listenerCount !== 'function') return true;
    return emitter.listenerCount(FAILED_EVENT) > 0 || (emitter.listenersAny?.().length ?? 0) > 0;
  }

  private failed(
    capability: RegisteredCapability,
    ctx: Context,
    error: unknown,
    started: number,
  ): void {
    if (!this.emitter) return;
    const event: CapabilityFailedEvent = {
      slug: capability.slug,
      plugin: capability.plugin,
      error,
      actor: ctx.actor,
      durationMs: performance.now() - started,
    };
    this.emit('capability.failed', event);
  }

  // ---------------------------------------------------------------- mutations (async, through the store)

  /**
   * Hosts a new plugin record. Missing fields take the defaults (enabled, kind `capability`, empty
   * config, no nav, sort 0).
   *
   * @throws PluginExistsError if the slug already has a record.
   */
  async register(input: HostedPluginOptions, options: MutationOptions = {}): Promise<Plugin> {
    const record = this.newRecord(input);
    const audit = [this.auditOf('registered', null, record, options.actor)];
    if (!(await this.storeCall(() => this.store.insert(this.toStore(record), audit)))) {
      await this.reload(record.slug);
      throw new PluginExistsError(record.slug);
    }
    this.remember(record);
    await this.committed('registered', null, record, options.actor);
    return this.plugins.get(record.slug)!;
  }

  /** Enables a plugin. */
  enable(slug: string, options?: MutationOptions): Promise<Plugin> {
    return this.toggle(slug, true, options);
  }

  /** Disables a plugin: its capabilities are refused at once on this instance. */
  disable(slug: string, options?: MutationOptions): Promise<Plugin> {
    return this.toggle(slug, false, options);
  }

  /** Sets `enabled` to the given value, or flips it when `enabled` is omitted. */
  toggle(slug: string, enabled?: boolean, options: MutationOptions = {}): Promise<Plugin> {
    if (enabled !== undefined && typeof enabled !== 'boolean') {
      throw new PluginValidationError('enabled must be a boolean');
    }
    return this.mutate(slug, options, (current) => ({
      enabled: enabled ?? !current.enabled,
    }));
  }

  /**
   * Applies a JSON Merge Patch (RFC 7396) to the plugin's config: objects merge recursively, `null`
   * deletes a key, arrays and other values replace. Keys `__proto__`, `constructor` and `prototype`
   * are refused at any depth.
   */
  configure(slug: string, patch: JsonObject, options: MutationOptions = {}): Promise<Plugin> {
    assertJsonObject(
      patch,
      this.options.maxJsonDepth,
      MESSAGES.patchNotObject,
      this.options.maxJsonKeys,
    );
    const { schema, secrets } = this.schemaOf(slug);
    assertNoSealedLookalikes(patch, secrets);
    const copy = cloneJson(patch);
    return this.mutate(slug, options, (current) => {
      const config = mergePatch(
        current.config,
        restoreMaskedSecrets(copy, secrets, current.config),
      );
      // The patch was checked alone; what it adds to the stored keys may pass the limits.
      this.assertConfig(config, schema);
      return { config };
    });
  }

  /** Changes `kind`, `nav`, `sort`, `labelEn`, `labelAr`. */
  update(slug: string, changes: PluginChanges, options: MutationOptions = {}): Promise<Plugin> {
    assertPluginFields(changes, UPDATABLE_FIELDS);
    const defined = Object.fromEntries(
      Object.entries(changes).filter(([, value]) => value !== undefined),
    ) as Change;
    return this.mutate(slug, options, () => defined);
  }

  /**
   * Rewrites `sort` so the navigation follows `slugs` (first gets 10, then 20, ...); plugins not
   * listed keep their relative order after them. All rows change in one atomic write; rows whose
   * sort is already right are not touched. Resolves every plugin in the new order.
   *
   * With `expectedNavFingerprint` (see {@link navFingerprint}) it first re-reads the store and
   * fails with `PluginNavOrderConflictError`, writing nothing, if the navigation changed since.
   */
  async reorder(
    slugs: readonly string[],
    options: ReorderOptions = {},
  ): Promise<readonly Plugin[]> {
    if (!Array.isArray(slugs))
      throw new PluginValidationError('slugs must be an array of plugin slugs.');
    const seen = new Set<string>();
    for (const slug of slugs) {
      assertPluginSlug(slug);
      if (seen.has(slug)) throw new PluginValidationError(MESSAGES.reorderDuplicate(slug));
      seen.add(slug);
    }
    const expected = options.expectedNavFingerprint;
    if (expected !== undefined && typeof expected !== 'string') {
      throw new PluginValidationError(MESSAGES.navFingerprintNotString);
    }
    // One reorder at a time on this instance, so two conditional ones cannot both pass the check.
    return this.inLane(REORDER_LANE, () => this.writeOrder(slugs, seen, options));
  }

  private async writeOrder(
    slugs: readonly string[],
    seen: ReadonlySet<string>,
    options: ReorderOptions,
  ): Promise<readonly Plugin[]> {
    const expected = options.expectedNavFingerprint;
    const deadline = Date.now() + WRITE_CONTENTION_MS;
    for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt++) {
      if (attempt > 1) await sleep(Math.random() * Math.min(2 ** attempt, 20));
      // A condition is checked against the store, not this instance's copy, which may lag.
      if (attempt > 0 || expected !== undefined) await this.reloadAll();
      if (expected !== undefined && this.navFingerprint() !== expected) {
        throw new PluginNavOrderConflictError(expected, this.navFingerprint());
      }
      const current = [...this.plugins.values()];
      const bySlug = new Map(current.map((p) => [p.slug, p]));
      for (const slug of slugs) if (!bySlug.has(slug)) throw new PluginNotFoundError(slug);
      const rest = current.filter((p) => !seen.has(p.slug)).sort(bySortThenSlug);
      const order = [...slugs.map((s) => bySlug.get(s)!), ...rest];
      const now = new Date();
      const writes = order
        .map((plugin, i) => ({ plugin, sort: (i + 1) * 10 }))
        .filter(({ plugin, sort }) => plugin.sort !== sort)
        .map(({ plugin, sort }) => ({
          next: {
            ...plugin,
            config: plugin.config,
            sort,
            version: plugin.version + 1,
            updatedAt: now,
          },
          expectedVersion: plugin.version,
        }));
      const sealed = writes.map((w) => ({ ...w, next: this.toStore(w.next) }));
      const audit = writes.length
        ? [
            {
              ...this.auditOf('reordered', null, null, options.actor),
              slug: writes
                .map((w) => w.next.slug)
                .join(',')
                .slice(0, 255),
              before: { order: [...current].sort(bySortThenSlug).map((p) => p.slug) },
              after: { order: order.map((p) => p.slug) },
            },
          ]
        : [];
      // A conditional reorder depends on the whole state it checked, not only the entries it
      // moves: another instance's reorder of other entries, or a plugin joining the navigation,
      // must make one of the two fail (this one then retries and answers 412).
      const written = new Set(writes.map((w) => w.next.slug));
      const unchanged =
        expected === undefined
          ? undefined
          : current
              .filter((p) => !written.has(p.slug))
              .map((p) => ({ slug: p.slug, version: p.version }));
      if (await this.storeCall(() => this.store.write(sealed, audit, { unchanged }))) {
        for (const { next } of writes) this.remember(next);
        if (writes.length) {
          const actor = options.actor ?? 'system';
          this.emitReordered(writes.map((w) => w.next.slug).join(','), 'local', actor);
          await this.announce(
            'reordered',
            actor,
            writes.map(({ next }) => ({ slug: next.slug, version: next.version })),
          );
        }
        return this.list();
      }
    }
    throw new PluginWriteConflictError(slugs.join(','), WRITE_CONTENTION_MS);
  }

  /**
   * Deletes a plugin record. Refused with `PluginInUseError` while code registers capabilities it
   * owns (disable it instead): otherwise the next boot would re-create it enabled.
   */
  async remove(slug: string, options: MutationOptions = {}): Promise<void> {
    assertPluginSlug(slug);
    const owned = this.registry.ownedBy(slug);
    if (owned.length) throw new PluginInUseError(slug, owned);
    await this.compareAndSet(slug, options, async (current) => {
      const audit = [this.auditOf('removed', current, null, options.actor)];
      if (!(await this.storeCall(() => this.store.delete(slug, current.version, audit)))) {
        return MISSED;
      }
      this.forget(slug);
      await this.committed('removed', current, null, options.actor);
      return undefined;
    });
  }

  /**
   * Reloads every record from the store and applies what changed (emitting `origin: 'remote'` events
   * for changes made elsewhere). Instances do this by themselves; call it to force a resync.
   */
  async refresh(): Promise<void> {
    await this.reloadAll();
  }

  /** Same as {@link refresh}; what the sync layer calls after a reconnect or a moved fingerprint. */
  async resync(): Promise<void> {
    await this.refresh();
    await this.engine?.reloadDefinitions();
  }

  /**
   * Applies another instance's commit: re-reads each record it names (by primary key) unless memory
   * already holds that version or newer, so each change is applied once and never rolled back to an
   * older version. Called by the sync transports.
   */
  async applyNotice(notice: PluginChangeNotice): Promise<void> {
    if (notice.kind === 'workflow') {
      await this.engine?.reloadDefinitions();
      return;
    }
    let applied = false;
    const quiet = notice.action === 'reordered';
    for (const change of notice.changes) {
      if (await this.applyVersion(change, notice.actor, !quiet)) applied = true;
    }
    if (quiet && applied)
      this.emitReordered(notice.changes.map((c) => c.slug).join(','), 'remote', notice.actor);
  }

  // ---------------------------------------------------------------- workflows

  /** Defines (or replaces) a workflow in code. Its capabilities must be registered. */
  defineWorkflow(definition: WorkflowDefinition): StoredWorkflow {
    return this.requireWorkflows().define(definition);
  }

  /**
   * Starts a workflow run. By default resolves the finished run; with `{ wait: false }` the pending
   * one. An `idempotencyKey` already used resolves that run instead of starting another.
   */
  runWorkflow(
    workflow: string,
    input?: unknown,
    options?: TriggerWorkflowOptions,
  ): Promise<WorkflowRun> {
    return this.requireWorkflows().trigger(workflow, input, options);
  }

  /** The workflow engine, once the module created it (see {@link PluginWorkflowService}). */
  get workflows(): PluginWorkflowService {
    return this.requireWorkflows();
  }

  /** @internal Called by the workflow engine when it is created. */
  attachWorkflows(engine: PluginWorkflowService): void {
    this.engine = engine;
  }

  private requireWorkflows(): PluginWorkflowService {
    if (!this.engine) throw new Error('The workflow engine is not available before module init.');
    return this.engine;
  }

  /**
   * Calls `listener` with every plugin change, local or remote (the same payloads as the
   * `plugin-host.plugin.*` events, secrets masked), whether or not an `EventEmitter2` is present.
   * Returns the function that unsubscribes. The admin page's live updates use this.
   */
  subscribe(listener: (event: PluginChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------- internals

  /**
   * The plugin as every REST response, event and audit entry shows it: secret config fields (from
   * `@Secret()` or `secrets`) replaced by `"********"`. Code reading `get()`/`list()` and capabilities
   * reading `ctx.plugin.config` see the real values.
   */
  redact(plugin: Plugin): Plugin {
    const { secrets } = this.schemaOf(plugin.slug);
    if (secrets.length === 0) return plugin;
    let masked = this.redacted.get(plugin);
    if (!masked) {
      masked = deepFreeze({ ...plugin, config: maskSecrets(plugin.config, secrets) });
      this.redacted.set(plugin, masked);
    }
    return masked;
  }

  /**
   * Re-encrypts every stored secret with the first of `encryptionKeys` (after a key rotation), so the
   * old key can then be removed. Resolves how many plugins were rewritten. A secret that did not
   * decrypt (its key is not among `encryptionKeys`, or it was tampered with) cannot be rewritten:
   * it is logged as an error, naming its plugin, path and key, so that key is not dropped blindly.
   */
  async reencryptSecrets(options: MutationOptions = {}): Promise<number> {
    if (!this.cipher) return 0;
    let rewritten = 0;
    // A snapshot: the loop replaces entries of the map it walks.
    for (const plugin of Array.from(this.plugins.values())) {
      const { secrets } = this.schemaOf(plugin.slug);
      const found = secrets.flatMap((path) =>
        locateSecrets(plugin.config, path).filter(
          ({ value }) => value !== undefined && value !== null,
        ),
      );
      if (found.length === 0) continue;
      for (const { value, label } of found) {
        if (!SecretCipher.isEncrypted(value)) continue;
        this.logger.error(
          `Secret "${label}" of plugin "${plugin.slug}" is still under key "${SecretCipher.keyIdOf(value)}": ` +
            'it did not decrypt, so it was not re-encrypted. Keep that key, or configure the secret again.',
        );
      }
      await this.compareAndSet(plugin.slug, options, async (current) => {
        const next: Plugin = { ...current, version: current.version + 1, updatedAt: new Date() };
        const writes = [{ next: this.toStore(next), expectedVersion: current.version }];
        const audit = [this.auditOf('updated', current, next, options.actor)];
        if (!(await this.storeCall(() => this.store.write(writes, audit)))) return MISSED;
        this.remember(next);
        await this.committed('updated', current, this.plugins.get(plugin.slug)!, options.actor);
        return undefined;
      });
      rewritten++;
    }
    return rewritten;
  }

  /** The audit row of a change: secrets masked, JSON only. */
  private auditOf(
    action: PluginChangeEvent['action'],
    before: Plugin | null,
    after: Plugin | null,
    actor = 'system',
  ): PluginAuditRecord {
    const json = (plugin: Plugin | null) => (plugin ? auditJson(this.redact(plugin)) : null);
    return {
      at: isoTime(new Date()),
      actor: actor.slice(0, 255),
      action: AUDIT_ACTIONS[action],
      slug: (after ?? before)?.slug ?? '',
      before: json(before),
      after: json(after),
      instance: this.instanceId.slice(0, 64),
    };
  }

  /**
   * A page of the audit log, newest first: every change with when, who, what, and the plugin before
   * and after (secrets masked).
   *
   * @throws PluginAuditUnavailableError when the store keeps no audit log (a custom store).
   */
  async audit(query: Partial<PluginAuditQuery> = {}): Promise<PluginAuditPage> {
    if (!this.store.audit) throw new PluginAuditUnavailableError();
    const limit = query.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new PluginValidationError('limit must be an integer from 1 to 500.');
    }
    if (query.slug !== undefined) assertPluginSlug(query.slug);
    if (query.action !== undefined && !AUDIT_ACTION_NAMES.has(query.action)) {
      throw new PluginValidationError(
        `action must be one of ${[...AUDIT_ACTION_NAMES].join(', ')}.`,
      );
    }
    if (query.before !== undefined && !(Number.isSafeInteger(query.before) && query.before > 0)) {
      throw new PluginValidationError('cursor must be a positive integer.');
    }
    const store = this.store;
    return this.storeCall(() => store.audit!({ ...query, limit }));
  }

  /** The config schema and secret paths code declared for a slug. */
  private schemaOf(slug: string): { schema?: Type; secrets: string[] } {
    let found = this.schemas.get(slug);
    if (!found) {
      const declared = this.registry.getHostedPlugin(slug)?.options;
      found = {
        schema: declared?.configSchema,
        secrets: secretPaths(declared?.configSchema, declared?.secrets),
      };
      this.schemas.set(slug, found);
    }
    return found;
  }

  /** The record as the store keeps it: secrets encrypted when `encryptionKeys` are set. */
  private toStore(plugin: Plugin): Plugin {
    if (!this.cipher) return plugin;
    const { secrets } = this.schemaOf(plugin.slug);
    const bindTo = this.options.bindSecrets ? plugin.slug : undefined;
    return { ...plugin, config: this.cipher.seal(plugin.config, secrets, bindTo) };
  }

  /** The record as memory keeps it: secrets decrypted. */
  private fromStore(plugin: Plugin | null): Plugin | null {
    if (!plugin || !this.cipher) return plugin;
    const config = this.cipher.open(
      plugin.config,
      this.schemaOf(plugin.slug).secrets,
      plugin.slug,
      (path, error) =>
        this.logger.error(
          `Cannot decrypt secret "${path}" of plugin "${plugin.slug}": ${error.message}. ` +
            'Is its key still in encryptionKeys?',
        ),
    );
    return config === plugin.config ? plugin : { ...plugin, config };
  }

  /**
   * Stores the declared plugins that have no record yet (the first declaration of a slug wins), in
   * one `insertMany` (one `insert` each on a store without it), and tells the other instances in one
   * notice. A slug another instance stored meanwhile is read back instead.
   */
  private async ensure(...declared: HostedPluginOptions[]): Promise<void> {
    const records: Plugin[] = [];
    const seen = new Set<string>();
    for (const options of declared) {
      if (this.plugins.has(options.slug) || seen.has(options.slug)) continue;
      seen.add(options.slug);
      const { configSchema: _schema, secrets: _secrets, ...fields } = options;
      // Frozen up front: the memory store and the audit entry then share its config.
      records.push(snapshot(this.newRecord(fields)));
    }
    if (records.length === 0) return;
    const entries = records.map((record) => ({
      plugin: this.toStore(record),
      audit: [this.auditOf('registered', null, record, 'system')],
    }));
    const inserted = await this.storeCall(() => insertEach(this.store, entries));
    const announced: PluginVersionNotice[] = [];
    for (const [i, record] of records.entries()) {
      if (inserted[i]) {
        this.remember(record);
        this.emitChange('registered', null, record, 'system', 'local');
        announced.push({ slug: record.slug, version: record.version });
      } else {
        await this.reload(record.slug);
      }
    }
    if (announced.length > 0) await this.announce('registered', 'system', announced);
  }

  private newRecord(input: HostedPluginOptions): Plugin {
    if (input === null || typeof input !== 'object') {
      throw new PluginValidationError('Expected an object describing the plugin.');
    }
    assertPluginSlug(input.slug);
    assertPluginFields(input, REGISTER_FIELDS);
    const config = input.config === undefined ? {} : input.config;
    const { schema, secrets } = this.schemaOf(input.slug);
    this.assertConfig(config, schema);
    assertNoSealedLookalikes(config, secrets);
    const now = new Date();
    return {
      slug: input.slug,
      kind: input.kind ?? 'capability',
      enabled: input.enabled ?? true,
      config: cloneJson(config),
      nav: input.nav ?? false,
      sort: input.sort ?? 0,
      labelEn: input.labelEn ?? null,
      labelAr: input.labelAr ?? null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
  }

  /** The write path for single-record changes. */
  private mutate(
    slug: string,
    options: MutationOptions,
    change: (current: Plugin) => Change,
  ): Promise<Plugin> {
    return this.compareAndSet(slug, options, async (current) => {
      const fields = change(current);
      if (isUnchanged(current, fields)) return current;
      const next: Plugin = {
        ...current,
        ...fields,
        version: current.version + 1,
        updatedAt: new Date(),
      };
      const action = actionFor(current, next);
      const writes = [{ next: this.toStore(next), expectedVersion: current.version }];
      const audit = [this.auditOf(action, current, next, options.actor)];
      if (!(await this.storeCall(() => this.store.write(writes, audit)))) return MISSED;
      this.remember(next);
      const after = this.plugins.get(slug)!;
      await this.committed(action, current, after, options.actor);
      return after;
    });
  }

  /**
   * Optimistic concurrency for one record: `attempt` runs against the version last seen (memory
   * first, the store after a miss) and answers `MISSED` when another writer got there first, which
   * re-reads and retries. A caller's `expectedVersion` is only refused on the store's own copy,
   * since memory may lag behind another instance.
   */
  private async compareAndSet<T>(
    slug: string,
    options: MutationOptions,
    attempt: (current: Plugin) => Promise<T | typeof MISSED>,
  ): Promise<T> {
    assertPluginSlug(slug);
    const expected = options.expectedVersion;
    if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 1)) {
      throw new PluginValidationError('expectedVersion must be a positive integer.');
    }
    return this.inLane(slug, async () => {
      let current = this.plugins.get(slug) ?? (await this.reload(slug));
      const deadline = Date.now() + WRITE_CONTENTION_MS;
      for (let tries = 0; tries === 0 || Date.now() < deadline; tries++) {
        if (current && expected !== undefined && current.version !== expected) {
          current = await this.reload(slug);
          if (current) this.checkExpected(current, options);
        }
        if (!current) throw new PluginNotFoundError(slug);
        const result = await attempt(current);
        if (result !== MISSED) return result;
        // Another instance won the race. Retry at once, then back off a little with jitter so a
        // busy writer elsewhere cannot starve this one.
        if (tries > 0) await sleep(Math.random() * Math.min(2 ** tries, 20));
        current = await this.reload(slug);
      }
      throw new PluginWriteConflictError(slug, WRITE_CONTENTION_MS);
    });
  }

  /**
   * Runs writes to one slug one after another on this instance. They would only fight over the same
   * version otherwise; across instances the compare-and-set still decides.
   */
  private inLane<T>(slug: string, work: () => Promise<T>): Promise<T> {
    const previous = this.lanes.get(slug) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(slug, tail);
    void tail.then(() => {
      if (this.lanes.get(slug) === tail) this.lanes.delete(slug);
    });
    return result;
  }

  private checkExpected(current: Plugin, options: MutationOptions): void {
    if (options.expectedVersion !== undefined && current.version !== options.expectedVersion) {
      throw new PluginVersionConflictError(current.slug, options.expectedVersion, current.version);
    }
  }

  /** A whole config, as it would be stored: JSON limits, size, and the plugin's schema. */
  private assertConfig(config: unknown, schema: Type | undefined): asserts config is JsonObject {
    assertJsonObject(
      config,
      this.options.maxJsonDepth,
      MESSAGES.configNotObject,
      this.options.maxJsonKeys,
    );
    this.assertConfigSize(config);
    assertConfigMatches(schema, config);
  }

  private assertConfigSize(config: JsonObject): void {
    const bytes = jsonByteLength(config);
    if (bytes > this.options.maxConfigBytes) {
      throw new PluginPayloadTooLargeError(
        MESSAGES.configTooLarge(bytes, this.options.maxConfigBytes),
      );
    }
  }

  /** Re-reads one record from the store into memory; `undefined` if it is gone. */
  private async reload(slug: string, actor = 'unknown'): Promise<Plugin | undefined> {
    const fresh = await this.storeCall(() => this.store.get(slug));
    return this.absorb(slug, this.fromStore(fresh), actor, true);
  }

  /** Re-reads every record, applying each difference as a remote change. */
  private async reloadAll(): Promise<void> {
    const from = this.changeCount;
    this.reloadsFrom.push(from);
    try {
      const all = await this.storeCall(() => this.store.all());
      // Changed in memory since the snapshot was asked for: the snapshot may be older.
      const touched = (slug: string) => (this.changedAt.get(slug) ?? 0) > from;
      const seen = new Set<string>();
      for (const plugin of all) {
        seen.add(plugin.slug);
        const fresh = this.fromStore(plugin)!;
        const known = this.plugins.get(plugin.slug);
        // A touched slug takes only a later version of the same record: never one removed since
        // (memory lacks it), nor an older record of a slug registered again since.
        if (
          touched(plugin.slug) &&
          !(known && sameRecord(known, fresh) && fresh.version > known.version)
        ) {
          continue;
        }
        this.absorb(plugin.slug, fresh, 'unknown', true);
      }
      for (const slug of this.plugins.keys()) {
        // Registered since the snapshot was asked for, if touched.
        if (!seen.has(slug) && !touched(slug)) this.absorb(slug, null, 'unknown', true);
      }
    } finally {
      this.reloadsFrom.splice(this.reloadsFrom.indexOf(from), 1);
      // Numbers no running reload needs any more.
      const oldest = Math.min(...this.reloadsFrom);
      for (const [slug, at] of this.changedAt) if (at <= oldest) this.changedAt.delete(slug);
    }
  }

  /** One remote version: skipped if memory already has it, else re-read and applied. */
  private async applyVersion(
    change: PluginVersionNotice,
    actor: string,
    emit: boolean,
  ): Promise<boolean> {
    const known = this.plugins.get(change.slug);
    // A lower version than memory's is an old notice, or the first of a record removed and
    // registered again while this instance missed the removal: the store tells which.
    if (!change.deleted && known && known.version === change.version) return false;
    if (change.deleted && !known) return false;
    return this.inLane(change.slug, async () => {
      const before = this.plugins.get(change.slug);
      const fresh = await this.storeCall(() => this.store.get(change.slug));
      return this.absorb(change.slug, this.fromStore(fresh), actor, emit) !== before;
    });
  }

  /**
   * Takes what the store holds for `slug` into memory if it is newer than what memory has (or gone),
   * emitting the change as a remote one once the app is up. Returns what memory holds afterwards.
   */
  private absorb(
    slug: string,
    fresh: Plugin | null,
    actor: string,
    emit: boolean,
  ): Plugin | undefined {
    const before = this.plugins.get(slug);
    if (!fresh) {
      if (!before) return undefined;
      this.forget(slug);
      if (emit && this.bootstrapped) this.emitChange('removed', before, null, actor, 'remote');
      return undefined;
    }
    const again = before !== undefined && registeredAgain(before, fresh);
    if (before && before.version >= fresh.version && !again) return before;
    this.remember(fresh, again);
    const after = this.plugins.get(slug)!;
    if (emit && this.bootstrapped) {
      this.emitChange(
        before ? actionFor(before, after) : 'registered',
        before ?? null,
        after,
        actor,
        'remote',
      );
    }
    return after;
  }

  private remember(plugin: Plugin, registeredAgain = false): void {
    const known = this.plugins.get(plugin.slug);
    if (known && known.version > plugin.version && !registeredAgain) return;
    this.plugins.set(plugin.slug, snapshot(plugin));
    this.sortedCache = null;
    this.noteChange(plugin.slug);
  }

  private forget(slug: string): void {
    if (this.plugins.delete(slug)) this.sortedCache = null;
    this.noteChange(slug);
  }

  private noteChange(slug: string): void {
    this.changeCount++;
    if (this.reloadsFrom.length > 0) this.changedAt.set(slug, this.changeCount);
  }

  /** After a local commit: emit the event here, then tell the other instances. */
  private async committed(
    action: PluginChangeEvent['action'],
    before: Plugin | null,
    after: Plugin | null,
    actor = 'system',
  ): Promise<void> {
    this.emitChange(action, before, after, actor, 'local');
    const record = (after ?? before)!;
    await this.announce(action, actor, [
      { slug: record.slug, version: record.version, deleted: after === null },
    ]);
  }

  private announce(
    action: PluginChangeEvent['action'],
    actor: string,
    changes: PluginVersionNotice[],
  ): Promise<void> {
    return this.sync.publish({ instance: this.instanceId, action, actor, changes });
  }

  private storeCall<T>(operation: () => Promise<T>): Promise<T> {
    return callStore(operation, this.logger, 'Plugin');
  }

  private emitChange(
    action: PluginChangeEvent['action'],
    before: Plugin | null,
    after: Plugin | null,
    actor: string,
    origin: PluginChangeEvent['origin'],
  ): void {
    if (!this.emitter && this.listeners.size === 0) return;
    const slug = (after ?? before)!.slug;
    this.emit(`plugin.${action}`, {
      action,
      slug,
      before: before && this.redact(before),
      after: after && this.redact(after),
      origin,
      actor,
    });
  }

  private emitReordered(slugs: string, origin: PluginChangeEvent['origin'], actor: string): void {
    this.emit('plugin.reordered', {
      action: 'reordered',
      slug: slugs,
      before: null,
      after: null,
      origin,
      actor,
    });
  }

  private emit(name: string, payload: PluginChangeEvent | CapabilityFailedEvent): void {
    try {
      this.emitter?.emit(`${PLUGIN_HOST_EVENT_PREFIX}.${name}`, payload);
    } catch (error) {
      // A listener's failure must not turn a committed change into an error for the caller.
      this.logger.error(
        `A listener of ${PLUGIN_HOST_EVENT_PREFIX}.${name} threw: ${describeThrown(error)}`,
      );
    }
    if (this.listeners.size === 0 || !('origin' in payload)) return;
    for (const listener of this.listeners) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.error(`A plugin change listener threw: ${describeThrown(error)}`);
      }
    }
  }
}

/** How long one write keeps retrying a compare-and-set that other writers keep winning. */
const WRITE_CONTENTION_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `runCapability` without the typed overloads, for internal forwarding. */
type RunUntyped = <TIn, TOut>(
  slug: string,
  input?: TIn,
  options?: RunCapabilityOptions,
) => Promise<TOut>;

/**
 * The deadline and caller's signal of a guarded run. Its AbortController exists only once
 * `ctx.signal` is read; an abort before that is remembered and applied when it is. Its timer exists
 * only once {@link armLater} arms it.
 */
class RunGuard {
  settled = false;
  onAbort?: (reason: unknown) => void;
  /** When the time limit runs out (`performance.now()` time), if the run has one. */
  deadline?: number;
  /** The error the run fails with at its deadline. */
  expired?: () => Error;
  #timer?: ReturnType<typeof setTimeout>;
  #controller?: AbortController;
  #aborted = false;
  #reason: unknown;

  /** Starts the timer for what is left of the time limit (or aborts now if none is left). */
  arm(): void {
    if (this.settled || this.#aborted || this.deadline === undefined) return;
    const left = this.deadline - performance.now();
    if (left <= 0) this.abort(this.expired!());
    else this.#timer = setTimeout(() => this.abort(this.expired!()), left);
  }

  /** Clears the timer, if {@link arm} started one. */
  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.onAbort?.(reason);
  }
}

/** Guarded runs whose timer {@link armUnsettled} arms if they are still going. */
const unarmed: RunGuard[] = [];
let armScheduled = false;
/** The queue length at which {@link armLater} drops the runs that settled meanwhile. */
const COMPACT_FLOOR = 1024;
let compactAt = COMPACT_FLOOR;

/**
 * Arms `guard`'s time limit at the end of this turn of the event loop (one `setImmediate` shared by
 * every run started in the turn), if the run is still going then: a timer per run, armed and
 * cleared on every REST call although nearly every capability settles before the turn ends, was a
 * measurable share of the run route's cost. The deadline does not move: the timer gets what is left
 * of the time limit.
 */
function armLater(guard: RunGuard): void {
  unarmed.push(guard);
  // A loop that awaits guarded runs one after another never yields to `setImmediate`: without
  // this, every run of the loop (with its input and context) would stay queued until it ends.
  if (unarmed.length >= compactAt) {
    let kept = 0;
    for (const queued of unarmed) if (!queued.settled) unarmed[kept++] = queued;
    unarmed.length = kept;
    compactAt = Math.max(COMPACT_FLOOR, kept * 2);
  }
  if (armScheduled) return;
  armScheduled = true;
  setImmediate(armUnsettled);
}

/** How many guarded runs wait for {@link armUnsettled} (for tests). @internal */
export function queuedTimeLimits(): number {
  return unarmed.length;
}

/** Arms the time limit of every run queued by {@link armLater} that is still going. */
function armUnsettled(): void {
  armScheduled = false;
  compactAt = COMPACT_FLOOR;
  for (const guard of unarmed.splice(0)) {
    try {
      guard.arm();
    } catch {
      // A failure's listener threw while one run timed out: the other runs still get their limit.
    }
  }
}

/** The context handed to a capability; `run` chains to other capabilities. */
class Context implements CapabilityContext {
  readonly actor: string;
  readonly request?: unknown;
  readonly parent?: CapabilityContext;
  readonly depth: number;
  readonly #host: PluginHostService;
  readonly #signal?: AbortSignal;
  readonly #guard?: RunGuard;

  constructor(
    host: PluginHostService,
    readonly slug: string,
    readonly plugin: Plugin,
    options: RunCapabilityOptions | undefined,
    guard?: RunGuard,
  ) {
    this.#host = host;
    this.#guard = guard;
    if (options === undefined) {
      this.actor = 'system';
      this.depth = 0;
      return;
    }
    const parent = options.parent;
    this.actor = options.actor ?? parent?.actor ?? 'system';
    this.request = options.request ?? parent?.request;
    this.#signal = options.signal;
    this.parent = parent;
    this.depth = parent === undefined ? 0 : parent.depth + 1;
  }

  /** The run's own signal (deadline or caller), else the caller's, else the parent run's. */
  get signal(): AbortSignal | undefined {
    return this.#guard?.signal ?? this.#signal ?? this.parent?.signal;
  }

  runWorkflow(
    workflow: string,
    input?: unknown,
    options?: TriggerWorkflowOptions,
  ): Promise<WorkflowRun> {
    return this.#host.runWorkflow(workflow, input, { actor: this.actor, ...options });
  }

  run<TIn = unknown, TOut = unknown>(slug: string, input?: TIn): Promise<TOut> {
    return (this.#host.runCapability as RunUntyped)<TIn, TOut>(slug, input, { parent: this });
  }
}

/**
 * `date.toISOString()`, remembering the last answer: a record's two dates and its audit entry's are
 * usually the same millisecond, and boot registers a hundred records in one (each call costs about
 * 0.3 µs, a tenth of registering a record).
 */
function isoTime(date: Date): string {
  const time = date.getTime();
  if (time !== lastIso.time) {
    lastIso.time = time;
    lastIso.text = date.toISOString();
  }
  return lastIso.text;
}
const lastIso = { time: NaN, text: '' };

/** Records made by `snapshot`: `remember` keeps them as they are. */
const snapshots = new WeakSet<Plugin>();

function snapshot(plugin: Plugin): Plugin {
  if (snapshots.has(plugin)) return plugin;
  const frozen = deepFreeze({
    slug: plugin.slug,
    kind: plugin.kind,
    enabled: plugin.enabled,
    config: plugin.config,
    nav: plugin.nav,
    sort: plugin.sort,
    labelEn: plugin.labelEn,
    labelAr: plugin.labelAr,
    version: plugin.version,
    createdAt: plugin.createdAt,
    updatedAt: plugin.updatedAt,
  });
  snapshots.add(frozen);
  return frozen;
}

/**
 * A plugin as the audit log keeps it: its JSON form (dates as ISO strings), frozen. A frozen config
 * (every snapshot's) is shared rather than copied: registering a thousand plugins at boot wrote a
 * JSON round trip of each.
 */
function auditJson(plugin: Plugin): JsonObject {
  const iso = (value: Date | string) => (value instanceof Date ? isoTime(value) : value);
  return deepFreeze({
    slug: plugin.slug,
    kind: plugin.kind,
    enabled: plugin.enabled,
    config: Object.isFrozen(plugin.config) ? plugin.config : cloneJson(plugin.config),
    nav: plugin.nav,
    sort: plugin.sort,
    labelEn: plugin.labelEn ?? null,
    labelAr: plugin.labelAr ?? null,
    version: plugin.version,
    createdAt: iso(plugin.createdAt),
    updatedAt: iso(plugin.updatedAt),
  });
}

/** `store.insertMany`, or one `insert` per entry on a store without it. */
async function insertEach(
  store: PluginStore,
  entries: readonly PluginInsert[],
): Promise<boolean[]> {
  if (store.insertMany) return store.insertMany(entries);
  const inserted: boolean[] = [];
  for (const { plugin, audit } of entries) inserted.push(await store.insert(plugin, audit));
  return inserted;
}

function bySortThenSlug(a: Plugin, b: Plugin): number {
  return a.sort - b.sort || (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0);
}

function isUnchanged(current: Plugin, fields: Change): boolean {
  return Object.entries(fields).every(([key, value]) =>
    isDeepStrictEqual(current[key as keyof Plugin], value),
  );
}

function actionFor(before: Plugin, after: Plugin): PluginChangeEvent['action'] {
  if (before.enabled !== after.enabled) return after.enabled ? 'enabled' : 'disabled';
  if (!isDeepStrictEqual(before.config, after.config)) return 'configured';
  return 'updated';
}

/** Refuses secret values that look encrypted (see {@link sealedLookalikes}). */
function assertNoSealedLookalikes(config: JsonObject, secrets: readonly string[]): void {
  const found = sealedLookalikes(config, secrets);
  if (found.length === 0) return;
  throw locatedViolations(
    found.map((path) => ({
      path: `config.${path}`,
      message: 'a secret value may not start with "enc:v1:" or "enc:v2:"',
    })),
  );
}

/**
 * Whether the store's record is another one than memory's under the same slug: removed and
 * registered again (its version started over at 1) while this instance missed the removal.
 */
function registeredAgain(known: Plugin, stored: Plugin): boolean {
  return stored.version < known.version && !sameRecord(known, stored);
}

/** Whether two records of a slug are the same registration (not removed and registered again). */
function sameRecord(a: Plugin, b: Plugin): boolean {
  return new Date(a.createdAt).getTime() === new Date(b.createdAt).getTime();
}
