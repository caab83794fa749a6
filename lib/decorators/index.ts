export * from './capability.decorator.js';
export { getCapabilityMetadata } from './capability-metadata.util.js';
export * from './hosted-plugin.decorator.js';
export * from './secret.decorator.js';
