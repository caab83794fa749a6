import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ContextIdFactory, DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { CapabilityRegistry } from './capability.registry.js';
import type { CapabilityContext, CapabilityHandler } from './interfaces/capability.interface.js';
import { PluginHostMetadataAccessor } from './plugin-host-metadata.accessor.js';
import { impliedOwner } from './slug.util.js';

/**
 * Walks every provider and controller at module init, and registers each `@Capability` method and
 * each `@HostedPlugin` class in the {@link CapabilityRegistry}.
 *
 * Request-scoped (or transiently-dependent) hosts are supported: their capability resolves a fresh
 * instance per call, tied to the caller's request when there is one, else to a new context.
 */
@Injectable()
export class PluginHostExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: PluginHostMetadataAccessor,
    private readonly registry: CapabilityRegistry,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    for (const wrapper of wrappers) this.explore(wrapper);
  }

  private explore(wrapper: InstanceWrapper): void {
    if (wrapper.isAlias) return;
    const metatype = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
    const isStatic = wrapper.isDependencyTreeStatic();
    if (isStatic && (!wrapper.instance || typeof wrapper.instance !== 'object')) return;
    // A factory or value provider's metatype is not its class: look at what it produced instead.
    const type = isStatic ? (wrapper.instance as object).constructor : metatype;
    if (typeof type !== 'function' || !type.prototype || type === Object) return;

    const hosted = this.accessor.getHostedPlugin(type);
    const where = wrapper.host?.name ?? 'unknown module';
    const source = `${type.name} (${where})`;
    if (hosted) this.registry.addHostedPlugin(hosted, source);

    const prototype = type.prototype as Record<string, unknown>;
    const instance = isStatic ? (wrapper.instance as Record<string, CapabilityHandler>) : undefined;
    for (const method of this.scanner.getAllMethodNames(prototype)) {
      const options = this.accessor.getCapability(prototype[method]);
      if (!options) continue;
      this.registry.addCapability({
        slug: options.slug,
        plugin: options.plugin ?? hosted?.slug ?? impliedOwner(options.slug),
        description: options.description,
        timeoutMs: options.timeoutMs,
        source: `${type.name}.${method} (${where})`,
        handler: withWorkflow(
          options.workflow,
          instance ? staticHandler(instance, method) : this.scopedHandler(wrapper, method),
        ),
      });
    }
  }

  private scopedHandler(wrapper: InstanceWrapper, method: string): CapabilityHandler {
    return async (input: unknown, ctx: CapabilityContext) => {
      const request = ctx.request;
      const contextId =
        request && typeof request === 'object'
          ? ContextIdFactory.getByRequest(request as Record<string, unknown>)
          : ContextIdFactory.create();
      if (request && typeof request === 'object') {
        this.moduleRef.registerRequestByContextId(request, contextId);
      }
      const instance = await this.moduleRef.resolve<Record<string, CapabilityHandler>>(
        wrapper.token as never,
        contextId,
        { strict: false },
      );
      return instance[method](input, ctx);
    };
  }
}

/**
 * Calls the method on the provider's one instance. A closure rather than `bind`: binding 1,000
 * methods took about half a millisecond of boot, and a spy or wrapper put on the instance after boot
 * is called too.
 */
function staticHandler(
  instance: Record<string, CapabilityHandler>,
  method: string,
): CapabilityHandler {
  return (input, ctx) => instance[method](input, ctx);
}

/** For `@Capability({ workflow })`: the method maps the input, then the workflow runs. */
function withWorkflow(workflow: string | undefined, handler: CapabilityHandler): CapabilityHandler {
  if (!workflow) return handler;
  return async (input, ctx) => {
    const mapped = await handler(input, ctx);
    return ctx.runWorkflow(workflow, mapped === undefined ? input : mapped);
  };
}
