export * from './decorators/index.js';
export * from './dto/index.js';
export * from './entities/index.js';
export * from './interfaces/index.js';
export * from './stores/index.js';
export * from './workflow/index.js';
export {
  PostgresNotifyTransport,
  RedisTransport,
  type PluginChangeNotice,
  type PluginHostRedisOptions,
  type PluginSyncTransport,
  type PluginVersionNotice,
} from './sync/index.js';
export * from './plugin-host.errors.js';
export { PLUGIN_HOST_OPTIONS } from './plugin-host.module-definition.js';
export {
  CAPABILITY_METADATA,
  HOSTED_PLUGIN_METADATA,
  PLUGIN_HOST_EVENT_PREFIX,
  PLUGIN_STORE,
  PLUGIN_SLUG_PATTERN,
  CAPABILITY_SLUG_PATTERN,
} from './plugin-host.constants.js';
export type { PluginHostErrorBody } from './plugin-host-exception.filter.js';
export type { PluginHostDashboard } from './plugin-host.controller.js';
export type { PluginHostAccess } from './plugin-host-ui.controller.js';
export { PluginHostModule } from './plugin-host.module.js';
export { PluginHostService } from './plugin-host.service.js';
export {
  PluginHostHealthIndicator,
  type PluginHostHealthDetails,
  type PluginHostHealthOptions,
} from './plugin-host.health-indicator.js';
export { isCapabilitySlug, isPluginSlug } from './slug.util.js';
export { mergePatch } from './json.util.js';
export { SecretCipher, type PluginHostEncryptionKey } from './secret-cipher.util.js';
export { SECRET_MASK } from './plugin-host.constants.js';
export * from './migrations/index.js';

/**
 * Declare your capabilities' input and output types once, by module augmentation; `runCapability`
 * and `ctx.run` then check and infer them for those slugs.
 *
 * @example
 * ```ts
 * declare module 'nest-plugin-host' {
 *   interface PluginHostCapabilities {
 *     'newsletter.send': { input: { subject: string }; output: { queued: boolean } };
 *   }
 * }
 * const { queued } = await host.runCapability('newsletter.send', { subject: 'Hi' });
 * ```
 */
// oxlint-disable-next-line typescript/no-empty-interface, typescript/no-empty-object-type
export interface PluginHostCapabilities {}
