/**
 * Names `@Capability()`'s metadata. It is not a reflect-metadata key: the options are kept by method
 * in a `WeakMap` on `globalThis[Symbol.for(CAPABILITY_METADATA)]`, shared by every copy of the
 * package. Read them with {@link getCapabilityMetadata}.
 */
export const CAPABILITY_METADATA = 'plugin-host:capability';
/** reflect-metadata key written by `@HostedPlugin()` on a class (read it with Nest's `Reflector`). */
export const HOSTED_PLUGIN_METADATA = 'plugin-host:hosted-plugin';
/** Metadata key naming the action a REST route performs (used by the access guard). */
export const PLUGIN_HOST_ACTION_METADATA = 'plugin-host:action';
/** On a controller whose routes take JSON bodies only (415/413 and `+json` bodies read by the guard). */
export const PLUGIN_HOST_JSON_API_METADATA = 'plugin-host:json-api';

/** Injection token of the resolved {@link PluginStore}. */
export const PLUGIN_STORE = Symbol('PLUGIN_HOST_STORE');
/** Injection token of the module's shape settings (`path`, `store`, `dataSource`). */
export const PLUGIN_HOST_EXTRAS = Symbol('PLUGIN_HOST_EXTRAS');

/** Prefix of every event the module emits through `EventEmitter2`. */
export const PLUGIN_HOST_EVENT_PREFIX = 'plugin-host';

/** Plugin slug: lower-case letters, digits and dashes, 1 to 63 characters, not starting with a dash. */
export const PLUGIN_SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Capability slug: one or more plugin-slug parts joined by dots, e.g. `newsletter.send`. */
export const CAPABILITY_SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9-]{0,62})*$/;
/** Longest capability slug accepted. */
export const CAPABILITY_SLUG_MAX_LENGTH = 255;
/** Keys refused at any depth of a config, input or definition (prototype pollution). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Defaults merged into the options in one place ({@link resolvePluginHostOptions}). */
export const DEFAULT_MEMORY_LIMIT = 10_000;
export const DEFAULT_PATH = 'api/plugin-host';
export const DEFAULT_MAX_CONFIG_BYTES = 256 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 32;
export const MAX_CAPABILITY_DEPTH = 32;
export const DEFAULT_SYNC_INTERVAL_MS = 5_000;
export const DEFAULT_SYNC_CHANNEL = 'plugin_host_changes';
export const DEFAULT_CAPABILITY_TIMEOUT_MS = 30_000;
/** Metadata key written by `@Secret()` on a config schema class. */
export const SECRET_METADATA = 'plugin-host:secret';
/** What secret values look like in every response, event and audit entry. */
export const SECRET_MASK = '********';
export const DEFAULT_MAX_JSON_KEYS = 10_000;
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
