export * from './plugin.dto.js';
