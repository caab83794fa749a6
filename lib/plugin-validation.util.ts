import { PLUGIN_SLUG_PATTERN } from './plugin-host.constants.js';
import type { HostedPluginOptions, PluginChanges } from './interfaces/hosted-plugin.interface.js';
import { PluginValidationError } from './plugin-host.errors.js';
import { isPlainObject, storableText, UNSTORABLE_TEXT } from './json.util.js';

const FIELD_RULES: Record<string, (value: unknown) => string | null> = {
  kind: (v) =>
    typeof v === 'string' && PLUGIN_SLUG_PATTERN.test(v)
      ? null
      : 'kind must be 1-63 lower-case letters, digits or dashes',
  enabled: (v) => (typeof v === 'boolean' ? null : 'enabled must be a boolean'),
  nav: (v) => (typeof v === 'boolean' ? null : 'nav must be a boolean'),
  sort: (v) =>
    Number.isInteger(v) && Math.abs(v as number) <= 2_147_483_647
      ? null
      : 'sort must be an integer between -2147483647 and 2147483647',
  labelEn: label('labelEn'),
  labelAr: label('labelAr'),
};

function label(name: string) {
  return (v: unknown) => {
    if (v === null) return null;
    if (typeof v !== 'string' || v.length > 255 || v.trim().length === 0) {
      return `${name} must be a non-blank string of at most 255 characters, or null`;
    }
    return storableText(v) ? null : `${name} ${UNSTORABLE_TEXT}`;
  };
}

/**
 * Checks the plain fields of a plugin record or change set (not slug, not config), collecting every
 * violation. Unknown keys are refused so a typo never silently does nothing.
 */
export function assertPluginFields(
  fields: PluginChanges | HostedPluginOptions,
  allowed: readonly string[],
): void {
  if (!isPlainObject(fields))
    throw new PluginValidationError('Expected an object of plugin fields.');
  const problems: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (!allowed.includes(key)) {
      problems.push(`property ${key} should not exist`);
      continue;
    }
    const rule = FIELD_RULES[key];
    if (rule && value !== undefined) {
      const problem = rule(value);
      if (problem) problems.push(problem);
    }
  }
  if (problems.length) throw new PluginValidationError(problems.join('; '), problems);
}

/** Fields `update()` may change. */
export const UPDATABLE_FIELDS = ['kind', 'nav', 'sort', 'labelEn', 'labelAr'] as const;
/** Fields `register()` accepts. */
export const REGISTER_FIELDS = ['slug', 'config', 'enabled', ...UPDATABLE_FIELDS] as const;
