import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnDialect } from './migration.util.js';

/**
 * Creates `plugin_workflows` (runtime workflow definitions) and `plugin_workflow_runs`.
 * Part of {@link PluginHostMigrations}.
 */
export class CreatePluginHostWorkflows1764000000002 implements MigrationInterface {
  name = 'CreatePluginHostWorkflows1764000000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    const c = columnDialect(queryRunner);
    const varchar = (name: string, length: number, isNullable = false) => ({
      name,
      type: c.type('varchar'),
      length: String(length),
      isNullable,
    });
    const text = (name: string, isNullable = false) => ({ name, type: c.type('text'), isNullable });
    await queryRunner.createTable(
      new Table({
        name: 'plugin_workflows',
        columns: [
          { ...varchar('name', 63), isPrimary: true },
          varchar('description', 1024, true),
          text('steps'),
          { name: 'version', type: c.type('integer') },
          varchar('updated_at', 30),
        ],
      }),
      true,
    );
    await queryRunner.createTable(
      new Table({
        name: 'plugin_workflow_runs',
        columns: [
          { ...varchar('id', 36), isPrimary: true },
          varchar('workflow', 63),
          varchar('status', 16),
          text('input'),
          text('state'),
          { name: 'current_step', type: c.type('integer') },
          text('steps'),
          text('error', true),
          varchar('idempotency_key', 255, true),
          text('definition'),
          varchar('owner', 64, true),
          varchar('heartbeat_at', 30, true),
          varchar('actor', 255),
          { name: 'version', type: c.type('integer') },
          varchar('created_at', 30),
          varchar('updated_at', 30),
          varchar('finished_at', 30, true),
        ],
        indices: [
          new TableIndex({ name: 'IDX_plugin_workflow_runs_workflow', columnNames: ['workflow'] }),
          new TableIndex({ name: 'IDX_plugin_workflow_runs_status', columnNames: ['status'] }),
          new TableIndex({
            name: 'UQ_plugin_workflow_runs_key',
            columnNames: ['idempotency_key'],
            isUnique: true,
          }),
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('plugin_workflow_runs', true);
    await queryRunner.dropTable('plugin_workflows', true);
  }
}
