export * from './capability.decorator.js';
export * from './hosted-plugin.decorator.js';
export * from './secret.decorator.js';
