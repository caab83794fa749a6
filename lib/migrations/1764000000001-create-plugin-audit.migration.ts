import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnDialect } from './migration.util.js';

/** Creates the `plugin_audit` table of {@link PluginAuditEntry}. Part of {@link PluginHostMigrations}. */
export class CreatePluginHostAudit1764000000001 implements MigrationInterface {
  name = 'CreatePluginHostAudit1764000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    const c = columnDialect(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'plugin_audit',
        columns: [
          {
            name: 'id',
            type: c.type('integer'),
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'at', type: c.type('varchar'), length: '30' },
          { name: 'actor', type: c.type('varchar'), length: '255' },
          { name: 'action', type: c.type('varchar'), length: '32' },
          { name: 'slug', type: c.type('varchar'), length: '255' },
          { name: 'before', type: c.type('text'), isNullable: true },
          { name: 'after', type: c.type('text'), isNullable: true },
          { name: 'instance', type: c.type('varchar'), length: '64' },
        ],
        indices: [
          new TableIndex({ name: 'IDX_plugin_audit_slug', columnNames: ['slug'] }),
          new TableIndex({ name: 'IDX_plugin_audit_action', columnNames: ['action'] }),
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('plugin_audit', true);
  }
}
