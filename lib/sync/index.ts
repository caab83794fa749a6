export * from './plugin-sync.interface.js';
export { PostgresNotifyTransport } from './postgres-notify.transport.js';
export { RedisTransport, type PluginHostRedisOptions } from './redis.transport.js';
export { PluginSyncService } from './plugin-sync.service.js';
