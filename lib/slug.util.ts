import {
  CAPABILITY_SLUG_MAX_LENGTH,
  CAPABILITY_SLUG_PATTERN,
  PLUGIN_SLUG_PATTERN,
} from './plugin-host.constants.js';
import { PluginValidationError } from './plugin-host.errors.js';
import { MESSAGES } from './plugin-host.messages.js';

/** Whether `value` is a valid plugin slug. */
export function isPluginSlug(value: unknown): value is string {
  return typeof value === 'string' && PLUGIN_SLUG_PATTERN.test(value);
}

/** Whether `value` is a valid capability slug. */
export function isCapabilitySlug(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= CAPABILITY_SLUG_MAX_LENGTH &&
    CAPABILITY_SLUG_PATTERN.test(value)
  );
}

/** Throws `PluginValidationError` unless `value` is a plugin slug. */
export function assertPluginSlug(value: unknown): asserts value is string {
  if (!isPluginSlug(value)) throw new PluginValidationError(MESSAGES.invalidPluginSlug(value));
}

/** Throws `PluginValidationError` unless `value` is a capability slug. */
export function assertCapabilitySlug(value: unknown): asserts value is string {
  if (!isCapabilitySlug(value)) {
    throw new PluginValidationError(MESSAGES.invalidCapabilitySlug(value));
  }
}

/** The owner a capability slug implies when nothing else names one: the part before the first dot. */
export function impliedOwner(capabilitySlug: string): string {
  const dot = capabilitySlug.indexOf('.');
  return dot === -1 ? capabilitySlug : capabilitySlug.slice(0, dot);
}
