export * from './in-memory-plugin.store.js';
export * from './typeorm-plugin.store.js';
