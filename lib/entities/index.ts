export * from './plugin.entity.js';
