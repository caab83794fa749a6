import { CreatePluginHostPlugins1764000000000 } from './1764000000000-create-plugins.migration.js';
import { CreatePluginHostAudit1764000000001 } from './1764000000001-create-plugin-audit.migration.js';
import { CreatePluginHostWorkflows1764000000002 } from './1764000000002-create-workflows.migration.js';
import { HashPluginHostIdempotencyKeys1764000000003 } from './1764000000003-hash-idempotency-keys.migration.js';

export {
  CreatePluginHostAudit1764000000001,
  CreatePluginHostPlugins1764000000000,
  CreatePluginHostWorkflows1764000000002,
  HashPluginHostIdempotencyKeys1764000000003,
};

/**
 * Every migration for the tables the library owns, oldest first. For apps with `synchronize: false`:
 *
 * @example
 * ```ts
 * TypeOrmModule.forRoot({ ..., migrations: [...PluginHostMigrations], migrationsRun: true })
 * ```
 */
export const PluginHostMigrations = [
  CreatePluginHostPlugins1764000000000,
  CreatePluginHostAudit1764000000001,
  CreatePluginHostWorkflows1764000000002,
  HashPluginHostIdempotencyKeys1764000000003,
];
