import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnDialect } from './migration.util.js';

/**
 * Creates the `plugins` table exactly as the {@link Plugin} entity describes it, on PostgreSQL,
 * MariaDB/MySQL and SQLite. Part of {@link PluginHostMigrations}.
 */
export class CreatePluginHostPlugins1764000000000 implements MigrationInterface {
  name = 'CreatePluginHostPlugins1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const c = columnDialect(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'plugins',
        columns: [
          { name: 'slug', type: c.type('varchar'), length: '63', isPrimary: true },
          { name: 'kind', type: c.type('varchar'), length: '63', default: c.value('capability') },
          { name: 'enabled', type: c.type('boolean'), default: c.value(true) },
          { name: 'config', type: c.type('text') },
          { name: 'nav', type: c.type('boolean'), default: c.value(false) },
          { name: 'sort', type: c.type('integer'), default: c.value(0) },
          { name: 'label_en', type: c.type('varchar'), length: '255', isNullable: true },
          { name: 'label_ar', type: c.type('varchar'), length: '255', isNullable: true },
          { name: 'version', type: c.type('integer') },
          c.createDate('created_at'),
          c.updateDate('updated_at'),
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('plugins', true);
  }
}
