export * from './capability.interface.js';
export * from './hosted-plugin.interface.js';
export * from './plugin-host-options.interface.js';
export * from './plugin-store.interface.js';
