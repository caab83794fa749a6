import { CAPABILITY_METADATA } from '../plugin-host.constants.js';
import type { CapabilityOptions } from '../interfaces/capability.interface.js';

type Method = (...args: never[]) => unknown;

/**
 * `@Capability` options by method. Kept out of reflect-metadata on purpose: at boot Nest's scanner
 * reads five metadata keys (guards, interceptors, filters, pipes, route params) on every method of
 * every provider, and each of those reads is slower on a function that carries any metadata at all:
 * with 1,000 decorated methods, 1-2 ms of a 12 ms boot (bench/FIXES.md). The map
 * lives on `globalThis` under a registered symbol so that two copies of this package in one app
 * (a plugin library pinning another version) still see each other's capabilities, as they would
 * through reflect-metadata's global store.
 */
const store: WeakMap<Method, Readonly<CapabilityOptions>> = ((
  globalThis as Record<symbol, unknown>
)[Symbol.for(CAPABILITY_METADATA)] ??= new WeakMap()) as WeakMap<
  Method,
  Readonly<CapabilityOptions>
>;

/**
 * Records `options` for `method`; what `@Capability` does. `options` must be the decorator's own
 * copy. (Not frozen: a frozen copy made the explorer's reads of it several times slower.)
 */
export function defineCapabilityMetadata(method: Method, options: CapabilityOptions): void {
  store.set(method, options);
}

/**
 * The `@Capability` options of a method, or `undefined` when it has none (or is not a function).
 * Methods inherited from a decorated parent class are the parent's functions and carry its options;
 * an override is a new function and carries only its own decorator's.
 *
 * @example
 * ```ts
 * getCapabilityMetadata(NewsletterPlugin.prototype.send); // { slug: 'newsletter.send' }
 * ```
 */
export function getCapabilityMetadata(method: unknown): Readonly<CapabilityOptions> | undefined {
  if (typeof method !== 'function') return undefined;
  return store.get(method as Method) ?? readLegacy(method);
}

/**
 * What a copy of this package from before the move wrote, or a method wrapper that copied
 * reflect-metadata onto its wrapper: read only, so the boot stays free of it.
 */
function readLegacy(method: object): CapabilityOptions | undefined {
  const reflect = Reflect as typeof Reflect & {
    getOwnMetadata?: (key: string, target: object) => unknown;
  };
  const options = reflect.getOwnMetadata?.(CAPABILITY_METADATA, method);
  return options &&
    typeof options === 'object' &&
    typeof (options as CapabilityOptions).slug === 'string'
    ? (options as CapabilityOptions)
    : undefined;
}
