import { Injectable, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { getCapabilityMetadata } from './decorators/capability-metadata.util.js';
import { HOSTED_PLUGIN_METADATA } from './plugin-host.constants.js';
import type { CapabilityOptions } from './interfaces/capability.interface.js';
import type { HostedPluginOptions } from './interfaces/hosted-plugin.interface.js';

/** Reads the module's decorator metadata; tolerates targets that are not objects or functions. */
@Injectable()
export class PluginHostMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getCapability(target: unknown): Readonly<CapabilityOptions> | undefined {
    return getCapabilityMetadata(target);
  }

  getHostedPlugin(target: unknown): HostedPluginOptions | undefined {
    if (!isTarget(target)) return undefined;
    return this.reflector.get<HostedPluginOptions | undefined>(
      HOSTED_PLUGIN_METADATA,
      target as Type,
    );
  }
}

function isTarget(target: unknown): target is Type | ((...args: unknown[]) => unknown) {
  return typeof target === 'function';
}
