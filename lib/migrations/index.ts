import { CreatePluginHostPlugins1764000000000 } from './1764000000000-create-plugins.migration.js';

export { CreatePluginHostPlugins1764000000000 };

/**
 * Every migration for the tables the library owns, oldest first. For apps with `synchronize: false`:
 *
 * @example
 * ```ts
 * TypeOrmModule.forRoot({ ..., migrations: [...PluginHostMigrations], migrationsRun: true })
 * ```
 */
export const PluginHostMigrations = [CreatePluginHostPlugins1764000000000];
