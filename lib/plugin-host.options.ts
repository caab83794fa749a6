import { randomUUID } from 'node:crypto';
import {
  DEFAULT_MAX_CONFIG_BYTES,
  DEFAULT_CAPABILITY_TIMEOUT_MS,
  DEFAULT_SYNC_CHANNEL,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_MAX_JSON_DEPTH,
  DEFAULT_MAX_JSON_KEYS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MEMORY_LIMIT,
} from './plugin-host.constants.js';
import type {
  PluginHostModuleOptions,
  ResolvedPluginHostOptions,
} from './interfaces/plugin-host-options.interface.js';

/** Fills in every default: the one place defaults are merged. */
export function resolvePluginHostOptions(
  options: PluginHostModuleOptions | undefined,
): ResolvedPluginHostOptions {
  return {
    memoryLimit: options?.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
    guards: options?.guards ?? [],
    allowAnonymous: options?.allowAnonymous ?? false,
    authorize: options?.authorize,
    actor: options?.actor,
    plugins: options?.plugins ?? [],
    maxConfigBytes: options?.maxConfigBytes ?? DEFAULT_MAX_CONFIG_BYTES,
    maxJsonDepth: options?.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
    maxJsonKeys: options?.maxJsonKeys ?? DEFAULT_MAX_JSON_KEYS,
    maxBodyBytes: options?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    capabilityTimeoutMs: options?.capabilityTimeoutMs ?? DEFAULT_CAPABILITY_TIMEOUT_MS,
    syncIntervalMs: options?.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS,
    notify: options?.notify ?? true,
    redis: options?.redis,
    syncChannel: options?.syncChannel ?? DEFAULT_SYNC_CHANNEL,
    instanceId: options?.instanceId ?? randomUUID(),
    encryptionKeys: options?.encryptionKeys,
    bindSecrets: options?.bindSecrets ?? true,
    tracing: options?.tracing ?? 'auto',
    workflows: options?.workflows ?? [],
    workflowStaleMs: options?.workflowStaleMs ?? 30_000,
    workflowHeartbeatMs: options?.workflowHeartbeatMs ?? 5_000,
    workflowRecoveryMs: options?.workflowRecoveryMs ?? 10_000,
    workflowWaitMs: options?.workflowWaitMs ?? 300_000,
    workflowQueue: options?.workflowQueue,
    ui: options?.ui ?? true,
    forceDisabled: new Set([
      ...(options?.forceDisabled ?? []),
      ...parseList(process.env[FORCE_DISABLED_ENV]),
    ]),
  };
}

/** The kill-switch environment variable: comma-separated plugin slugs forced off on this instance. */
export const FORCE_DISABLED_ENV = 'PLUGIN_HOST_FORCE_DISABLED';

function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}
