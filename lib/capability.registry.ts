import { Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { DuplicateCapabilityError, DuplicateHostedPluginError } from './plugin-host.errors.js';
import type { CapabilityHandler } from './interfaces/capability.interface.js';
import type { HostedPluginOptions } from './interfaces/hosted-plugin.interface.js';

/** A capability as the registry holds it. */
export interface RegisteredCapability {
  slug: string;
  plugin: string;
  description?: string;
  /** Overrides the module's `capabilityTimeoutMs` for REST runs. */
  timeoutMs?: number;
  /** Where it was declared, for error messages, e.g. `NewsletterPlugin.send (AppModule)`. */
  source: string;
  handler: CapabilityHandler;
}

/** A `@HostedPlugin` or `plugins` option entry with where it came from. */
export interface RegisteredHostedPlugin {
  options: HostedPluginOptions;
  source: string;
}

/**
 * Holds what discovery and `registerCapability` found: capabilities by slug and the plugin defaults
 * declared in code. One registry per application: two apps in one process share nothing.
 */
@Injectable()
export class CapabilityRegistry {
  private readonly capabilities = new Map<string, RegisteredCapability>();
  private readonly hostedPlugins = new Map<string, RegisteredHostedPlugin>();

  addCapability(capability: RegisteredCapability): void {
    const existing = this.capabilities.get(capability.slug);
    if (existing) {
      throw new DuplicateCapabilityError(capability.slug, existing.source, capability.source);
    }
    this.capabilities.set(capability.slug, capability);
  }

  removeCapability(slug: string): boolean {
    return this.capabilities.delete(slug);
  }

  addHostedPlugin(options: HostedPluginOptions, source: string): void {
    const existing = this.hostedPlugins.get(options.slug);
    if (existing && !isDeepStrictEqual(existing.options, options)) {
      throw new DuplicateHostedPluginError(options.slug, existing.source, source);
    }
    if (!existing) this.hostedPlugins.set(options.slug, { options, source });
  }

  /** The capability under `slug`: the hot path's single Map lookup. */
  getCapability(slug: string): RegisteredCapability | undefined {
    return this.capabilities.get(slug);
  }

  /** How many capabilities are registered. */
  get capabilityCount(): number {
    return this.capabilities.size;
  }

  allCapabilities(): IterableIterator<RegisteredCapability> {
    return this.capabilities.values();
  }

  allHostedPlugins(): IterableIterator<RegisteredHostedPlugin> {
    return this.hostedPlugins.values();
  }

  getHostedPlugin(slug: string): RegisteredHostedPlugin | undefined {
    return this.hostedPlugins.get(slug);
  }

  /** Slugs of the capabilities a plugin owns, sorted. */
  ownedBy(plugin: string): string[] {
    const owned: string[] = [];
    for (const capability of this.capabilities.values()) {
      if (capability.plugin === plugin) owned.push(capability.slug);
    }
    return owned.sort();
  }
}
