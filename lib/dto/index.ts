export * from './plugin.dto.js';
export * from './responses.dto.js';
