import {
  Controller,
  Module,
  type DynamicModule,
  type NestModule,
  type Provider,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CapabilityRegistry } from './capability.registry.js';
import { PluginHostEntities } from './entities/index.js';
import type {
  PluginHostModuleExtras,
  PluginHostModuleOptions,
} from './interfaces/plugin-host-options.interface.js';
import type { PluginStore } from './interfaces/plugin-store.interface.js';
import { PluginHostAccessGuard } from './plugin-host-access.guard.js';
import { PluginHostBodyPipe } from './plugin-host-body.pipe.js';
import { PluginHostETagInterceptor } from './plugin-host-etag.interceptor.js';
import { PluginHostHttpFallback } from './plugin-host-http-fallback.middleware.js';
import { PLUGIN_HOST_EXTRAS, PLUGIN_STORE } from './plugin-host.constants.js';
import { PluginHostController } from './plugin-host.controller.js';
import { mountedUiController } from './plugin-host-ui.controller.js';
import { describeOpenApi } from './plugin-host.openapi.js';
import { PluginHostExceptionFilter } from './plugin-host-exception.filter.js';
import { PluginHostExplorer } from './plugin-host.explorer.js';
import { PluginHostMetadataAccessor } from './plugin-host-metadata.accessor.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableModuleClass,
  DEFAULT_EXTRAS,
  MODULE_OPTIONS_TOKEN,
  OPTIONS_TYPE,
  PLUGIN_HOST_RESOLVED_OPTIONS,
} from './plugin-host.module-definition.js';
import { resolvePluginHostOptions } from './plugin-host.options.js';
import { PluginHostService } from './plugin-host.service.js';
import { PluginHostHealthIndicator } from './plugin-host.health-indicator.js';
import { InMemoryPluginStore } from './stores/in-memory-plugin.store.js';
import { PluginSyncService } from './sync/plugin-sync.service.js';
import { WORKFLOW_STORE } from './workflow/workflow.constants.js';
import { PluginWorkflowService } from './workflow/workflow.service.js';
import { InMemoryWorkflowStore, TypeOrmWorkflowStore } from './workflow/workflow.store.js';
import { TypeOrmPluginStore } from './stores/typeorm-plugin.store.js';

/**
 * The runtime plugin layer. Import once, in the root module:
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRoot({ type: 'better-sqlite3', database: 'data/app.db', autoLoadEntities: true, synchronize: true }),
 *     EventEmitterModule.forRoot(),
 *     PluginHostModule.forRoot({ allowAnonymous: true }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 *
 * `forRootAsync({ useFactory, inject, imports })` takes the same options from a factory; the settings
 * that shape the module (`store`, `dataSource`, `path`, `isGlobal`) stay at its top level.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    PluginHostService,
    PluginWorkflowService,
    PluginSyncService,
    PluginHostHealthIndicator,
    CapabilityRegistry,
    PluginHostExplorer,
    PluginHostMetadataAccessor,
    PluginHostAccessGuard,
    PluginHostBodyPipe,
    PluginHostETagInterceptor,
    PluginHostHttpFallback,
    PluginHostExceptionFilter,
    {
      provide: PLUGIN_HOST_RESOLVED_OPTIONS,
      useFactory: resolvePluginHostOptions,
      inject: [MODULE_OPTIONS_TOKEN],
    },
  ],
  exports: [PluginHostService, PluginWorkflowService, PluginHostHealthIndicator],
})
export class PluginHostModule extends ConfigurableModuleClass implements NestModule {
  constructor(private readonly httpFallback: PluginHostHttpFallback) {
    super();
  }

  /** Nest calls this before it registers routes: Fastify's route hooks must be in place by then. */
  configure(): void {
    this.httpFallback.beforeRoutes();
  }

  /** Hosts plugins with options known up front. */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return shape(super.forRoot(options), options);
  }

  /** Hosts plugins with options from a factory, class or existing provider. */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return shape(super.forRootAsync(options), options);
  }
}

/** Adds what the shape settings decide: the store provider, its imports, and the mounted controller. */
function shape(definition: DynamicModule, given: PluginHostModuleExtras): DynamicModule {
  const extras = { ...DEFAULT_EXTRAS, ...withoutUndefined(given) };
  const { store, dataSource } = extras;
  const imports = [...(definition.imports ?? [])];
  let storeProvider: Provider;
  let workflowStoreProvider: Provider = {
    provide: WORKFLOW_STORE,
    useFactory: (options: PluginHostModuleOptions) =>
      new InMemoryWorkflowStore(resolvePluginHostOptions(options).memoryLimit),
    inject: [MODULE_OPTIONS_TOKEN],
  };
  if (store === 'typeorm') {
    imports.push(TypeOrmModule.forFeature([...PluginHostEntities], dataSource));
    storeProvider = {
      provide: PLUGIN_STORE,
      useFactory: (source: DataSource) => new TypeOrmPluginStore(source),
      inject: [getDataSourceToken(dataSource)],
    };
    workflowStoreProvider = {
      provide: WORKFLOW_STORE,
      useFactory: (source: DataSource) => new TypeOrmWorkflowStore(source),
      inject: [getDataSourceToken(dataSource)],
    };
  } else if (store === 'memory') {
    storeProvider = {
      provide: PLUGIN_STORE,
      useFactory: (options: PluginHostModuleOptions) =>
        new InMemoryPluginStore(resolvePluginHostOptions(options).memoryLimit),
      inject: [MODULE_OPTIONS_TOKEN],
    };
  } else if (isPluginStore(store)) {
    storeProvider = { provide: PLUGIN_STORE, useValue: store };
  } else {
    throw new TypeError(
      `PluginHostModule: store must be 'typeorm', 'memory' or a PluginStore instance, got ${String(store)}.`,
    );
  }
  const controllers: Type[] = [];
  if (extras.path !== false)
    controllers.push(mountedController(extras.path), mountedUiController(extras.path));
  return {
    ...definition,
    global: extras.isGlobal,
    imports,
    controllers: [...(definition.controllers ?? []), ...controllers],
    providers: [
      ...(definition.providers ?? []),
      storeProvider,
      workflowStoreProvider,
      { provide: PLUGIN_HOST_EXTRAS, useValue: extras },
    ],
    exports: [...(definition.exports ?? []), PLUGIN_STORE, PLUGIN_HOST_EXTRAS],
  };
}

function mountedController(path: string): Type {
  describeOpenApi();
  if (typeof path !== 'string')
    throw new TypeError('PluginHostModule: path must be a string or false.');
  @Controller(path.replace(/^\/+|\/+$/g, ''))
  class MountedPluginHostController extends PluginHostController {}
  return MountedPluginHostController;
}

function isPluginStore(value: unknown): value is PluginStore {
  const candidate = value as PluginStore;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    ['all', 'get', 'upsert', 'insert', 'write', 'delete'].every(
      (method) => typeof candidate[method as keyof PluginStore] === 'function',
    )
  );
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value ?? {}).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
