import type { CapabilityOptions } from '../interfaces/capability.interface.js';
import { assertCapabilitySlug, assertPluginSlug } from '../slug.util.js';
import { defineCapabilityMetadata } from './capability-metadata.util.js';

/**
 * Marks a provider or controller method as a capability, discovered at bootstrap and run by slug with
 * `PluginHostService.runCapability(slug, input)` or `POST /capabilities/:slug/run`. The method receives
 * `(input, ctx: CapabilityContext)` and is refused while its owning plugin is disabled.
 *
 * A malformed slug throws when the class is defined, not at the first call.
 *
 * @example
 * ```ts
 * @Capability('newsletter.send')
 * async send(input: { subject: string }, ctx: CapabilityContext) { ... }
 *
 * @Capability({ slug: 'invoice.create', plugin: 'billing', description: 'Creates a draft invoice' })
 * create(input: InvoiceInput) { ... }
 * ```
 */
export function Capability(slugOrOptions: string | CapabilityOptions): MethodDecorator {
  const options: CapabilityOptions =
    typeof slugOrOptions === 'string' ? { slug: slugOrOptions } : { ...slugOrOptions };
  assertCapabilitySlug(options.slug);
  if (options.plugin !== undefined) assertPluginSlug(options.plugin);
  if (options.workflow !== undefined) assertPluginSlug(options.workflow);
  if (
    options.timeoutMs !== undefined &&
    !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)
  ) {
    throw new TypeError(`@Capability("${options.slug}"): timeoutMs must be a positive integer.`);
  }
  return (target, key, descriptor) => {
    if (typeof descriptor?.value !== 'function') {
      throw new TypeError(
        `@Capability("${options.slug}") goes on a method; ${String(key)} of ${targetName(target)} is not one.`,
      );
    }
    defineCapabilityMetadata(descriptor.value as (...args: never[]) => unknown, options);
    return descriptor;
  };
}

function targetName(target: object): string {
  return (typeof target === 'function' ? target : target.constructor)?.name || 'an anonymous class';
}
