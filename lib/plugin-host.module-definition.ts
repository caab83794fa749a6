import { ConfigurableModuleBuilder } from '@nestjs/common';
import { DEFAULT_PATH } from './plugin-host.constants.js';
import type {
  PluginHostModuleExtras,
  PluginHostModuleOptions,
} from './interfaces/plugin-host-options.interface.js';

/** Injection token of the options exactly as given to `forRoot` / returned by the async factory. */
export const PLUGIN_HOST_RESOLVED_OPTIONS = Symbol('PLUGIN_HOST_RESOLVED_OPTIONS');

/** Defaults of the settings that shape the module. */
export const DEFAULT_EXTRAS: Required<Omit<PluginHostModuleExtras, 'dataSource'>> &
  Pick<PluginHostModuleExtras, 'dataSource'> = {
  isGlobal: true,
  path: DEFAULT_PATH,
  store: 'typeorm',
  dataSource: undefined,
};

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<PluginHostModuleOptions>({ moduleName: 'PluginHost' })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createPluginHostOptions')
    .setExtras<PluginHostModuleExtras>(DEFAULT_EXTRAS, (definition) => definition)
    .build();

/** Injection token of the options given to `PluginHostModule.forRoot()` (or its async factory). */
export const PLUGIN_HOST_OPTIONS = MODULE_OPTIONS_TOKEN;
