import { createHash } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginHostEntities, PluginHostMigrations, PluginHostService } from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';
import { effects, ONBOARDING, WorkflowSteps } from '../src/workflow.fixture.js';

/** Index of the first migration after the schema of the first release (no `idempotency_hash`). */
const FIRST_RELEASE = 3;

/** Writes one finished onboarding run with `key` (and `hash`, if the schema has the column). */
async function insertRun(
  source: DataSource,
  run: { id: string; key: string; email: string; hash?: string },
): Promise<void> {
  const at = new Date().toISOString();
  const hashed = run.hash === undefined ? '' : ', idempotency_hash';
  const [sql, parameters] = source.driver.escapeQueryWithParameters(
    `INSERT INTO plugin_workflow_runs (id, workflow, status, input, state, current_step, steps,
       idempotency_key, definition, actor, version, created_at, updated_at, finished_at${hashed})
     VALUES (:id, 'onboarding', 'succeeded', :input, :input, 2, '[]', :key, :definition,
       'system', 3, :at, :at, :at${run.hash === undefined ? '' : ', :hash'})`,
    {
      id: run.id,
      key: run.key,
      hash: run.hash,
      input: JSON.stringify({ email: run.email }),
      definition: JSON.stringify(ONBOARDING),
      at,
    },
  );
  await source.query(sql, parameters);
}

/** A data source on `db` with the first `count` migrations run, and no entities. */
async function migratedTo(db: TestDatabase, count: number): Promise<DataSource> {
  const source = new DataSource({
    ...(db.options as object),
    synchronize: false,
    entities: [],
    migrations: PluginHostMigrations.slice(0, count),
  } as never);
  await source.initialize();
  await source.runMigrations();
  return source;
}

/**
 * Migrates a fresh database to the first release's schema and writes one finished run there, keyed
 * `Legacy-1`, as that release wrote it: no key hash.
 */
async function firstReleaseWithRun(db: TestDatabase, runId: string): Promise<void> {
  const source = await migratedTo(db, FIRST_RELEASE);
  try {
    await insertRun(source, { id: runId, key: 'Legacy-1', email: 'old@x.y' });
  } finally {
    await source.destroy();
  }
}

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
        'HashPluginHostIdempotencyKeys1764000000003',
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

  it.each([
    [
      'the new migration',
      { synchronize: false, migrations: PluginHostMigrations, migrationsRun: true },
    ],
    ['synchronize', { synchronize: true }],
  ])(
    "finds the idempotency keys of the first release's runs after an upgrade by %s",
    async (_how, upgrade) => {
      const fresh = await createDatabase();
      const runId = '00000000-0000-4000-8000-000000000001';
      try {
        await firstReleaseWithRun(fresh, runId);
        effects.reset();
        const app = await createTestApp({
          database: { ...fresh.options, ...upgrade } as never,
          providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
          host: { workflows: [ONBOARDING] },
        });
        try {
          const host = app.get(PluginHostService);
          const again = await host.runWorkflow(
            'onboarding',
            { email: 'old@x.y' },
            { idempotencyKey: 'Legacy-1' },
          );
          expect(again).toMatchObject({
            id: runId,
            status: 'succeeded',
            idempotencyKey: 'Legacy-1',
          });
          // Another key that a collation would take for it starts a run of its own.
          const other = await host.runWorkflow(
            'onboarding',
            { email: 'new@x.y' },
            { idempotencyKey: 'legacy-1' },
          );
          expect(other.id).not.toBe(runId);
          expect(effects.created).toEqual(['new@x.y']);
        } finally {
          await app.close();
        }
      } finally {
        await fresh.drop();
      }
    },
  );

  it('hash the older keys they can, passing over one a newer run already holds', async () => {
    const fresh = await createDatabase();
    try {
      const source = await migratedTo(fresh, PluginHostMigrations.length);
      try {
        // An old instance, still running during a rolling upgrade, wrote `Dup` without a hash
        // after a new one had started a run with it; `Legacy-1` sorts after it by id.
        await insertRun(source, {
          id: '00000000-0000-4000-8000-00000000000a',
          key: 'Dup',
          email: 'new@x.y',
          hash: createHash('sha256').update('Dup').digest('hex'),
        });
        await insertRun(source, {
          id: '00000000-0000-4000-8000-00000000000b',
          key: 'Dup',
          email: 'old@x.y',
        });
        await insertRun(source, {
          id: '00000000-0000-4000-8000-00000000000c',
          key: 'Legacy-1',
          email: 'old@x.y',
        });
      } finally {
        await source.destroy();
      }
      effects.reset();
      const app = await createTestApp({
        database: { ...fresh.options, synchronize: false } as never,
        providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
        host: { workflows: [ONBOARDING] },
      });
      try {
        const host = app.get(PluginHostService);
        const legacy = await host.runWorkflow(
          'onboarding',
          { email: 'old@x.y' },
          { idempotencyKey: 'Legacy-1' },
        );
        expect(legacy.id).toBe('00000000-0000-4000-8000-00000000000c');
        const dup = await host.runWorkflow(
          'onboarding',
          { email: 'new@x.y' },
          { idempotencyKey: 'Dup' },
        );
        expect(dup.id).toBe('00000000-0000-4000-8000-00000000000a');
        expect(effects.created).toEqual([]);
      } finally {
        await app.close();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('find a run an instance of the old version writes during a rolling upgrade', async () => {
    const fresh = await createDatabase();
    try {
      effects.reset();
      const app = await createTestApp({
        database: {
          ...fresh.options,
          synchronize: false,
          migrations: PluginHostMigrations,
          migrationsRun: true,
        } as never,
        providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
        host: { workflows: [ONBOARDING] },
      });
      try {
        // After this instance started (and hashed what it found), an old one writes a run.
        const source = new DataSource({ ...(fresh.options as object), entities: [] } as never);
        await source.initialize();
        const id = '00000000-0000-4000-8000-0000000000d1';
        await insertRun(source, { id, key: 'Late-1', email: 'late@x.y' });
        await source.destroy();
        const host = app.get(PluginHostService);
        const again = await host.runWorkflow(
          'onboarding',
          { email: 'late@x.y' },
          { idempotencyKey: 'Late-1' },
        );
        expect(again.id).toBe(id);
        // Matched exactly, whatever the column's collation says.
        const other = await host.runWorkflow(
          'onboarding',
          { email: 'late@x.y' },
          { idempotencyKey: 'late-1' },
        );
        expect(other.id).not.toBe(id);
        expect(effects.created).toEqual(['late@x.y']);
      } finally {
        await app.close();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('take over a schema that synchronize created, changing nothing', async () => {
    const fresh = await createDatabase();
    const options = { ...(fresh.options as object), entities: [...PluginHostEntities] };
    try {
      const synced = new DataSource({ ...options, synchronize: true } as never);
      await synced.initialize();
      await synced.destroy();
      const source = new DataSource({
        ...options,
        synchronize: false,
        migrations: PluginHostMigrations,
      } as never);
      await source.initialize();
      try {
        const ran = await source.runMigrations({ transaction: 'each' });
        expect(ran).toHaveLength(PluginHostMigrations.length);
        const diff = await source.driver.createSchemaBuilder().log();
        expect(diff.upQueries.map((q) => q.query)).toEqual([]);
      } finally {
        await source.destroy();
      }
    } finally {
      await fresh.drop();
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
