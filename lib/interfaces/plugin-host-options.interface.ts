import type { CanActivate, Type } from '@nestjs/common';
import type { HostedPluginOptions } from './hosted-plugin.interface.js';
import type { PluginStore } from './plugin-store.interface.js';
import type { PluginHostRedisOptions } from '../sync/redis.transport.js';
import type { PluginHostEncryptionKey } from '../secret-cipher.util.js';
import type { WorkflowDefinition } from '../workflow/workflow.interface.js';

/** Actions the REST API performs; what `authorize` is asked about. */
export type PluginHostAction =
  | 'read'
  | 'register'
  | 'update'
  | 'toggle'
  | 'configure'
  | 'remove'
  | 'reorder'
  | 'run'
  | 'audit'
  | 'workflow.define'
  | 'workflow.remove'
  | 'workflow.run'
  /** Reading workflow runs (`GET /workflows/runs`, `/workflows/runs/:id`): their inputs, outputs and errors. */
  | 'workflow.read';

/** What `authorize` receives for every REST call. */
export interface PluginHostAuthorizeContext {
  /** The action the route performs. */
  action: PluginHostAction;
  /** The plugin or capability slug in the route, if any. */
  slug?: string;
  /** The framework request (Express or Fastify). */
  request: unknown;
}

/**
 * Options that may come from an async factory (`forRootAsync({ useFactory })`).
 */
export interface PluginHostModuleOptions {
  /**
   * Upper bound on records in the in-memory store (`store: 'memory'`). Past it, new records are refused
   * with `STORE_FULL`; nothing is ever evicted.
   * @default 10000
   */
  memoryLimit?: number;
  /**
   * Guards run on every REST route (classes are resolved through DI, or created if not providers).
   * When given, they alone decide who may call the API; `allowAnonymous` is then ignored.
   * @example [JwtAuthGuard, new RolesGuard('admin')]
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
  /**
   * Without `guards`, GET routes are open and every other route answers 403. Set to `true` to open
   * them all (development, or an app that protects the path itself).
   * @default false
   */
  allowAnonymous?: boolean;
  /**
   * Per-action authorization, asked after the guards pass. Return `false` to answer 403.
   * @example ({ action, slug }) => action !== 'remove' || slug !== 'billing'
   */
  authorize?: (context: PluginHostAuthorizeContext) => boolean | Promise<boolean>;
  /**
   * Who made a REST change, for events and the audit log. Defaults to `request.user.username`,
   * `.id` or `.sub` when an auth guard set one, else `anonymous`.
   * @example (request) => request.user?.email
   */
  actor?: (request: any) => string | undefined;
  /**
   * Plugin records to host at boot, inserted only if absent (like `@HostedPlugin` defaults).
   * @example [{ slug: 'beta-dashboard', kind: 'feature', enabled: false, nav: true }]
   */
  plugins?: HostedPluginOptions[];
  /**
   * Largest config accepted, in bytes of its JSON form. Bigger answers 413.
   * @default 262144
   */
  maxConfigBytes?: number;
  /**
   * Deepest nesting accepted in a config, a capability input over REST, or a patch.
   * @default 32
   */
  maxJsonDepth?: number;
  /**
   * Most object keys, counted over all levels, in a config, a patch or a REST body. More answers 400.
   * @default 10000
   */
  maxJsonKeys?: number;
  /**
   * Largest REST request body, in bytes (by Content-Length), on this module's routes. Larger answers
   * 413 `PAYLOAD_TOO_LARGE`. The app's body parser has its own limit (Express: 100 kB by default),
   * which applies first.
   * @default 262144
   */
  maxBodyBytes?: number;
  /**
   * Time limit of a capability run over REST, unless the capability sets its own `timeoutMs`.
   * On expiry: 504 `CAPABILITY_TIMEOUT`, and the capability's `ctx.signal` is aborted.
   * @default 30000
   */
  capabilityTimeoutMs?: number;
  /**
   * Polling safety net between instances: every interval, compare a cheap fingerprint of the table
   * (count, sum of versions, latest update) and reload only if it moved. `0` turns polling off.
   * @default 5000
   */
  syncIntervalMs?: number;
  /**
   * Use PostgreSQL LISTEN/NOTIFY between instances when the store's database is PostgreSQL.
   * @default true
   */
  notify?: boolean;
  /**
   * Also announce changes over Redis pub/sub (any database; needs the `ioredis` package).
   * @example 'redis://127.0.0.1:6379'
   */
  redis?: PluginHostRedisOptions;
  /**
   * Channel name used by NOTIFY and Redis. Instances that share a store must use the same one.
   * @default 'plugin_host_changes'
   */
  syncChannel?: string;
  /**
   * Kill switch: plugin slugs forced off on this instance whatever the store says (their capabilities
   * are refused, they leave the nav). Merged with the comma-separated environment variable
   * `PLUGIN_HOST_FORCE_DISABLED`, so a plugin that breaks production can be stopped with a restart
   * and no working admin API.
   * @example ['billing']
   */
  forceDisabled?: string[];
  /**
   * Encrypt secret config fields at rest with AES-256-GCM. The first key encrypts, every key
   * decrypts. To rotate: put the new key first on every instance, call
   * `PluginHostService.reencryptSecrets()` once, then remove the old key.
   * @example [{ id: '2026-11', key: process.env.PLUGIN_HOST_KEY! }]
   */
  encryptionKeys?: PluginHostEncryptionKey[];
  /**
   * Seal each secret bound to its plugin and path (`enc:v2:`), so a ciphertext moved elsewhere in
   * the table does not decrypt. Set `false` only while instances of the first release, which read
   * `enc:v1:` alone, still share the store (a rolling upgrade); turn it back on once every instance
   * runs this version, and call `reencryptSecrets()`. Both formats are always read.
   * @default true
   */
  bindSecrets?: boolean;
  /**
   * OpenTelemetry spans (`capability <slug>`, with slug, plugin, outcome and duration) and a
   * `plugin_host.capability.duration` histogram around capability runs. `'auto'` turns them on when
   * `@opentelemetry/api` is installed and the app registered an SDK before the module bootstrapped;
   * otherwise the hot path pays nothing.
   * @default 'auto'
   */
  tracing?: boolean | 'auto';
  /**
   * Workflows defined in code (validated at boot: every capability must exist).
   * @example [{ name: 'onboarding', steps: [{ id: 'create', capability: 'crm.create', with: { email: '{{input.email}}' } }] }]
   */
  workflows?: WorkflowDefinition[];
  /**
   * A running workflow whose instance has not written a heartbeat for this long is taken over by
   * another instance and resumed after its last completed step.
   * @default 30000
   */
  workflowStaleMs?: number;
  /** How often a running workflow writes its heartbeat. @default 5000 */
  workflowHeartbeatMs?: number;
  /** How often each instance looks for abandoned workflow runs (`0`: only at boot). @default 10000 */
  workflowRecoveryMs?: number;
  /**
   * Run workflow steps as BullMQ jobs (Redis) on any instance instead of in-process: each step is a
   * job, a step whose worker dies is taken over by another worker after `lockDurationMs`, and
   * completed steps never run again. Needs the `bullmq` package.
   * @example { connection: 'redis://127.0.0.1:6379' }
   */
  workflowQueue?: {
    /** A `redis://` URL or ioredis options. */
    connection: string | Record<string, unknown>;
    /** Queue name; instances that share runs must use the same one. @default 'plugin-host-workflows' */
    name?: string;
    /** Steps one worker runs at once. @default 10 */
    concurrency?: number;
    /** How long a worker holds a step before another may take it over. @default 30000 */
    lockDurationMs?: number;
  };
  /** Longest wait for a run to finish when triggered with `wait` over REST. @default 300000 */
  workflowWaitMs?: number;
  /**
   * This instance's id in change notices and logs.
   * @default a random UUID per boot
   */
  instanceId?: string;
  /**
   * Serve the admin page at `/{path}/ui`: a prebuilt, dependency-free page (shipped in the package)
   * to toggle, configure and reorder plugins, run capabilities and read the audit log, live. It sits
   * behind the same `guards` and `authorize` as the API (action `read`); callers without mutation
   * rights get a read-only view. `false` answers 404 there. The API routes it uses (`/events`,
   * `/access`) stay mounted either way.
   * @default true
   */
  ui?: boolean;
}

/**
 * Settings that shape the module itself (which providers and controllers exist). They sit at the top
 * level of both `forRoot({...})` and `forRootAsync({...})`, since an async factory cannot change imports.
 */
export interface PluginHostModuleExtras {
  /**
   * Register the module globally, so `PluginHostService` can be injected anywhere.
   * @default true
   */
  isGlobal?: boolean;
  /**
   * Where the REST API is mounted, or `false` to mount no controller.
   * @default 'api/plugin-host'
   */
  path?: string | false;
  /**
   * Where plugin records live: `'typeorm'` (the app's TypeORM data source, table `plugins`),
   * `'memory'` (bounded, lost on restart), or your own {@link PluginStore}.
   * @default 'typeorm'
   */
  store?: 'typeorm' | 'memory' | PluginStore;
  /**
   * Name of the TypeORM data source to use with `store: 'typeorm'`.
   * @default the default data source
   */
  dataSource?: string;
}

/** Everything `PluginHostModule.forRoot()` accepts. */
export type PluginHostModuleForRootOptions = PluginHostModuleOptions & PluginHostModuleExtras;

/** Options with every default filled in. */
export type ResolvedPluginHostOptions = Required<
  Omit<
    PluginHostModuleOptions,
    | 'authorize'
    | 'guards'
    | 'redis'
    | 'forceDisabled'
    | 'encryptionKeys'
    | 'actor'
    | 'workflowQueue'
  >
> &
  Pick<
    PluginHostModuleOptions,
    'authorize' | 'redis' | 'encryptionKeys' | 'actor' | 'workflowQueue'
  > & {
    guards: Array<Type<CanActivate> | CanActivate>;
    /** Options' `forceDisabled` plus `PLUGIN_HOST_FORCE_DISABLED`. */
    forceDisabled: ReadonlySet<string>;
  };
