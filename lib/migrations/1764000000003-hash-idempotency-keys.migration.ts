import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnDialect } from './migration.util.js';

const TABLE = 'plugin_workflow_runs';

/**
 * Moves the unique index of `plugin_workflow_runs` from `idempotency_key` to a new
 * `idempotency_hash` column (SHA-256 of the key, hex); the key keeps a plain index. A collation may take distinct keys for one:
 * MariaDB and MySQL's defaults ignore case, accents and trailing spaces, so `Order-1` found the run
 * of `order-1`. Part of {@link PluginHostMigrations}.
 *
 * The hashes of runs already in the table are filled in by the app when it starts (the first
 * workflow recovery pass), not here: a migration cannot hash in portable SQL.
 */
export class HashPluginHostIdempotencyKeys1764000000003 implements MigrationInterface {
  name = 'HashPluginHostIdempotencyKeys1764000000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    const c = columnDialect(queryRunner);
    // A schema `synchronize` already brought up to date (before the app moved to migrations) has
    // the column and the index: each step is skipped if done.
    const table = await queryRunner.getTable(TABLE);
    if (!table?.findColumnByName('idempotency_hash')) {
      await queryRunner.addColumn(
        TABLE,
        new TableColumn({
          name: 'idempotency_hash',
          type: c.type('varchar'),
          length: '64',
          isNullable: true,
        }),
      );
    }
    if (table?.indices.some((index) => index.name === 'UQ_plugin_workflow_runs_key')) {
      await queryRunner.dropIndex(TABLE, 'UQ_plugin_workflow_runs_key');
    }
    // Not unique: it finds the runs an instance of the old version writes without a hash during
    // a rolling upgrade (their keys are compared exactly in code).
    if (!table?.indices.some((index) => index.name === 'IDX_plugin_workflow_runs_key')) {
      await queryRunner.createIndex(
        TABLE,
        new TableIndex({ name: 'IDX_plugin_workflow_runs_key', columnNames: ['idempotency_key'] }),
      );
    }
    if (!table?.indices.some((index) => index.name === 'UQ_plugin_workflow_runs_key_hash')) {
      await queryRunner.createIndex(
        TABLE,
        new TableIndex({
          name: 'UQ_plugin_workflow_runs_key_hash',
          columnNames: ['idempotency_hash'],
          isUnique: true,
        }),
      );
    }
  }

  /** Puts the unique index back on the key; fails if the table holds keys its collation equates. */
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex(TABLE, 'UQ_plugin_workflow_runs_key_hash');
    await queryRunner.dropIndex(TABLE, 'IDX_plugin_workflow_runs_key');
    await queryRunner.dropColumn(TABLE, 'idempotency_hash');
    await queryRunner.createIndex(
      TABLE,
      new TableIndex({
        name: 'UQ_plugin_workflow_runs_key',
        columnNames: ['idempotency_key'],
        isUnique: true,
      }),
    );
  }
}
