/** Every human-readable message the module produces, in one place. */
export const MESSAGES = {
  pluginNotFound: (slug: string) => `Plugin "${slug}" is not hosted.`,
  pluginExists: (slug: string) => `Plugin "${slug}" is already hosted.`,
  pluginDisabled: (plugin: string, capability: string) =>
    `Capability "${capability}" is unavailable: its plugin "${plugin}" is disabled.`,
  pluginForcedOff: (plugin: string, capability: string) =>
    `Capability "${capability}" is unavailable: its plugin "${plugin}" is forced off on this instance (PLUGIN_HOST_FORCE_DISABLED).`,
  pluginInUse: (slug: string, capabilities: string[]) =>
    `Plugin "${slug}" owns registered capabilities (${capabilities.join(', ')}); disable it instead of removing it.`,
  capabilityNotFound: (slug: string) => `Capability "${slug}" is not registered.`,
  capabilityFailed: (slug: string) => `Capability "${slug}" failed.`,
  capabilityTimeout: (slug: string, ms: number) =>
    `Capability "${slug}" did not finish within ${ms} ms.`,
  capabilityDepth: (slug: string, depth: number) =>
    `Capability "${slug}" was called ${depth} levels deep; a capability chain is probably calling itself.`,
  duplicateCapability: (slug: string, first: string, second: string) =>
    `Capability "${slug}" is declared twice: by ${first} and by ${second}. Capability slugs must be unique.`,
  duplicateHostedPlugin: (slug: string, first: string, second: string) =>
    `@HostedPlugin("${slug}") is declared twice with different defaults: by ${first} and by ${second}.`,
  invalidPluginSlug: (slug: unknown) =>
    `Invalid plugin slug ${describe(slug)}: use 1-63 lower-case letters, digits or dashes, starting with a letter or digit.`,
  invalidCapabilitySlug: (slug: unknown) =>
    `Invalid capability slug ${describe(slug)}: use one or more plugin-slug parts joined by dots, e.g. "newsletter.send".`,
  configNotObject: 'A plugin config must be a JSON object.',
  patchNotObject: 'A config patch must be a JSON object (JSON Merge Patch, RFC 7396).',
  inputNotObject: 'A capability input sent over HTTP must be a JSON object.',
  forbiddenKey: (path: string) =>
    `Forbidden key at "${path}": __proto__, constructor and prototype are refused.`,
  tooDeep: (max: number) => `JSON nested deeper than ${max} levels.`,
  tooManyKeys: (max: number) => `JSON with more than ${max} keys in all.`,
  bodyTooLarge: (bytes: number, max: number) =>
    `The request body is ${bytes} bytes; this API accepts at most ${max}.`,
  configTooLarge: (bytes: number, max: number) =>
    `Config is ${bytes} bytes once serialised; the limit is ${max}.`,
  notJson: (path: string) =>
    `Value at "${path}" is not JSON (only objects, arrays, strings, finite numbers, booleans and null).`,
  storeFull: (limit: number) =>
    `The in-memory plugin store holds its limit of ${limit} plugins; remove one or raise memoryLimit.`,
  storeUnavailable: 'The plugin store is unavailable; nothing was changed. Retry later.',
  versionConflict: (slug: string, expected: number, actual: number) =>
    `Plugin "${slug}" is at version ${actual}, not ${expected}: it changed since you read it. Reload and retry.`,
  writeContention: (slug: string, ms: number) =>
    `Plugin "${slug}" kept changing for ${ms} ms of write attempts; nothing was written. Retry.`,
  reorderDuplicate: (slug: string) => `Slug "${slug}" appears twice in the order.`,
  navOrderConflict:
    'The navigation changed since you read it (its ETag is no longer the one you sent); nothing was written. Reload and retry.',
  navFingerprintNotString: 'expectedNavFingerprint must be a string, as navFingerprint() gives it.',
  badNavIfMatch: 'If-Match must be the ETag of GET /nav, e.g. W/"3q2-7w_x8Kp1Zm0".',
  forbiddenAnonymous:
    'This route changes state, runs code or reads private data (the audit log, workflow runs) and no guards are configured. Pass `guards` to ' +
    'PluginHostModule.forRoot({ guards: [YourAuthGuard] }), or set `allowAnonymous: true` for development.',
  forbiddenAction: (action: string, slug?: string) =>
    `Not allowed to ${action}${slug ? ` "${slug}"` : ''}.`,
} as const;

function describe(value: unknown): string {
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value})`;
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
