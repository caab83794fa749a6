import request from 'supertest';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginHostEntities, PluginHostMigrations } from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';

describe.each(DATABASES)('migrations on %s', (_name, createDatabase) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('create the schema the entity describes, and revert it', async () => {
    const source = new DataSource({
      ...(db.options as object),
      synchronize: false,
      entities: [...PluginHostEntities],
      migrations: PluginHostMigrations,
    } as never);
    await source.initialize();
    try {
      const before = await source.driver.createSchemaBuilder().log();
      expect(before.upQueries.length).toBeGreaterThan(0); // no table yet: sync would create one
      const ran = await source.runMigrations({ transaction: 'each' });
      expect(ran.map((m) => m.name)).toEqual([
        'CreatePluginHostPlugins1764000000000',
        'CreatePluginHostAudit1764000000001',
        'CreatePluginHostWorkflows1764000000002',
      ]);
      const diff = await source.driver.createSchemaBuilder().log();
      expect(diff.upQueries.map((q) => q.query)).toEqual([]);
      for (let i = 0; i < ran.length; i++) await source.undoLastMigration();
      const runner = source.createQueryRunner();
      expect(await runner.hasTable('plugins')).toBe(false);
      expect(await runner.hasTable('plugin_audit')).toBe(false);
      expect(await runner.hasTable('plugin_workflow_runs')).toBe(false);
      await runner.release();
    } finally {
      await source.destroy();
    }
  });

  it('let an app with synchronize: false run on the migrated schema', async () => {
    const app = await createTestApp({
      database: {
        ...db.options,
        synchronize: false,
        migrations: PluginHostMigrations,
        migrationsRun: true,
      } as never,
    });
    try {
      const http = request(app.getHttpServer());
      const toggled = await http
        .post('/api/plugin-host/plugins/mail/toggle')
        .send({ enabled: false });
      expect(toggled.status).toBe(200);
      expect(toggled.body).toMatchObject({ slug: 'mail', enabled: false, version: 2 });
    } finally {
      await app.close();
    }
  });
});
