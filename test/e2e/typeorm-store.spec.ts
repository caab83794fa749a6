import { DataSource, type ObjectLiteral } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Plugin, PluginHostEntities, TypeOrmPluginStore } from '../../lib/index.js';
import { DATABASES, type TestDatabase } from '../src/databases.js';

/** TypeORM's own reading of a row, to compare `get`'s prepared SELECT against. */
function viaRepository(source: DataSource, slug: string) {
  return source.getRepository<ObjectLiteral>(Plugin).findOneBy({ slug });
}

describe.each(DATABASES)('TypeOrmPluginStore on %s', (_name, create) => {
  let database: TestDatabase;
  let source: DataSource;
  let store: TypeOrmPluginStore;

  beforeAll(async () => {
    database = await create();
    source = new DataSource({
      ...(database.options as object),
      entities: [...PluginHostEntities],
    } as unknown as ConstructorParameters<typeof DataSource>[0]);
    await source.initialize();
    store = new TypeOrmPluginStore(source);
  });
  afterAll(async () => {
    await source?.destroy();
    await database?.drop();
  });

  it('reads one record exactly as TypeORM hydrates it, every column and type', async () => {
    const at = new Date(Date.UTC(2026, 10, 25, 9, 30, 15));
    const records: Plugin[] = [
      {
        slug: 'full',
        kind: 'integration',
        enabled: false,
        config: { nested: { list: [1, 'two', null, true] }, quote: 'it\'s "quoted"', n: 1.5 },
        nav: true,
        sort: -3,
        labelEn: 'Full',
        labelAr: 'كامل',
        version: 41,
        createdAt: at,
        updatedAt: at,
      },
      pluginRecord('bare', { createdAt: at, updatedAt: at }),
    ];
    for (const record of records) await store.upsert(record);
    for (const { slug } of records) {
      const got = await store.get(slug);
      const expected = await viaRepository(source, slug);
      expect(got).toEqual({ ...expected });
      expect(typeof got!.enabled).toBe('boolean');
      expect(got!.createdAt).toBeInstanceOf(Date);
      expect(typeof got!.version).toBe('number');
    }
    const full = (await store.get('full'))!;
    expect(full.config).toEqual(records[0].config);
    expect(full.labelAr).toBe('كامل');
    expect(full.sort).toBe(-3);
  });

  it('insertMany inserts each free slug once, even when two instances race on a fresh table', async () => {
    const { other, rival } = await secondInstance(database);
    try {
      const at = new Date();
      const entries = Array.from({ length: 40 }, (_, i) => {
        const plugin: Plugin = {
          slug: `batch-${i}`,
          kind: 'capability',
          enabled: true,
          config: { i },
          nav: false,
          sort: i,
          labelEn: null,
          labelAr: null,
          version: 1,
          createdAt: at,
          updatedAt: at,
        };
        return {
          plugin,
          audit: [
            {
              at: at.toISOString(),
              actor: 'system',
              action: 'register' as const,
              slug: plugin.slug,
              before: null,
              after: { slug: plugin.slug },
              instance: 'test',
            },
          ],
        };
      });
      // One of them is there already: it must come back false from both.
      await store.upsert(entries[0].plugin);
      const [mine, theirs] = await Promise.all([
        store.insertMany(entries),
        rival.insertMany(entries),
      ]);
      expect(mine[0]).toBe(false);
      expect(theirs[0]).toBe(false);
      for (let i = 1; i < entries.length; i++) {
        expect(mine[i] !== theirs[i], `batch-${i} inserted by exactly one`).toBe(true);
      }
      const rows = await source
        .getRepository<ObjectLiteral>(Plugin)
        .createQueryBuilder('p')
        .where('p.slug LIKE :prefix', { prefix: 'batch-%' })
        .getCount();
      expect(rows).toBe(entries.length);
      const audited = await store.audit({ limit: 200, slug: undefined, action: undefined });
      // A cursor past the id column's range pages from the newest entry, not a store error.
      expect(await store.audit({ limit: 200, before: 2 ** 31 })).toEqual(audited);
      const batchAudits = audited.items.filter((entry) => entry.slug.startsWith('batch-'));
      // Every inserted record has exactly one audit row; the pre-existing one has none.
      expect(batchAudits.map((entry) => entry.slug).sort()).toEqual(
        entries
          .slice(1)
          .map((entry) => entry.plugin.slug)
          .sort(),
      );
      expect(await store.insertMany([])).toEqual([]);
    } finally {
      await other.destroy();
    }
  });

  it('applies a write only while its unchanged records are at their versions, one of two racing writers', async () => {
    const at = new Date();
    const record = (slug: string, sort: number, version = 1) =>
      navRecord(slug, { sort, version, createdAt: at, updatedAt: at });
    for (const [i, slug] of ['nav-a', 'nav-b', 'nav-c', 'nav-d'].entries()) {
      await store.upsert(record(slug, (i + 1) * 10));
    }
    const move = (slug: string, sort: number) => ({
      next: record(slug, sort, 2),
      expectedVersion: 1,
    });
    // A checked record that moved on (or is gone) refuses the whole write.
    expect(
      await store.write([move('nav-a', 15)], [], { unchanged: [{ slug: 'nav-b', version: 7 }] }),
    ).toBe(false);
    expect(
      await store.write([move('nav-a', 15)], [], { unchanged: [{ slug: 'nav-zz', version: 1 }] }),
    ).toBe(false);
    expect((await store.get('nav-a'))?.version).toBe(1);

    // Two instances read the same navigation and each moves entries the other only checks.
    const { other, rival } = await secondInstance(database);
    try {
      const results = await Promise.all([
        store.write([move('nav-a', 35), move('nav-b', 45)], [], {
          unchanged: [
            { slug: 'nav-c', version: 1 },
            { slug: 'nav-d', version: 1 },
          ],
        }),
        rival.write([move('nav-c', 5), move('nav-d', 6)], [], {
          unchanged: [
            { slug: 'nav-a', version: 1 },
            { slug: 'nav-b', version: 1 },
          ],
        }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const versions = await Promise.all(
        ['nav-a', 'nav-b', 'nav-c', 'nav-d'].map(async (slug) => (await store.get(slug))?.version),
      );
      expect(versions).toEqual(results[0] ? [2, 2, 1, 1] : [1, 1, 2, 2]);
    } finally {
      await other.destroy();
    }
  });

  it('locks the rows of a multi-row write in one order, so it cannot deadlock with another', async (context) => {
    if (database.kind === 'sqlite') context.skip(); // SQLite runs one write transaction at a time
    const at = new Date();
    const record = (slug: string, version: number) =>
      navRecord(slug, { sort: version, version, createdAt: at, updatedAt: at });
    for (const slug of ['lock-a', 'lock-b', 'lock-c']) await store.upsert(record(slug, 1));
    // Another transaction holds lock-a. A reorder that updates lock-c, lock-b, lock-a in that
    // order must wait for lock-a before it touches lock-c: the holder can then take lock-c too.
    // (Updating in its own order, it would hold lock-c while waiting: a deadlock.)
    const holder = await rawConnection(database);
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT slug FROM plugins WHERE slug = 'lock-a' FOR UPDATE");
      const reorder = store.write(
        ['lock-c', 'lock-b', 'lock-a'].map((slug) => ({
          next: { ...record(slug, 2), sort: 99 },
          expectedVersion: 1,
        })),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await holder.query(
        `${database.kind === 'postgres' ? "SET LOCAL lock_timeout = '3s'" : 'SET innodb_lock_wait_timeout = 3'}`,
      );
      await holder.query("SELECT slug FROM plugins WHERE slug = 'lock-c' FOR UPDATE");
      await holder.query('COMMIT');
      expect(await reorder).toBe(true);
    } finally {
      await holder.end();
    }
    expect((await store.get('lock-c'))?.version).toBe(2);
  });

  it('answers null for an unknown slug, whatever characters it holds', async () => {
    for (const slug of ['missing', "o'brien", 'x" OR 1=1 --', '%', '']) {
      expect(await store.get(slug)).toBeNull();
    }
  });
});

/** A plain driver connection beside TypeORM's pool, to hold row locks by hand. */
async function rawConnection(database: TestDatabase): Promise<{
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}> {
  if (database.kind === 'postgres') {
    const { Client } = await import('pg');
    const client = new Client({ connectionString: database.url });
    await client.connect();
    return { query: (sql) => client.query(sql), end: () => client.end() };
  }
  const { createConnection } = await import('mysql2/promise');
  const connection = await createConnection(database.url);
  return { query: (sql) => connection.query(sql), end: () => connection.end() };
}

/** A record with `fields` over a fresh capability plugin's defaults. */
function pluginRecord(slug: string, fields: Partial<Plugin> = {}): Plugin {
  const at = new Date();
  return {
    slug,
    kind: 'capability',
    enabled: true,
    config: {},
    nav: false,
    sort: 0,
    labelEn: null,
    labelAr: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
    ...fields,
  };
}

/** A navigation entry with `fields` over plain defaults. */
function navRecord(slug: string, fields: Partial<Plugin>): Plugin {
  return pluginRecord(slug, { kind: 'page', nav: true, ...fields });
}

/** A second instance's store on the same database (its own connection pool). */
async function secondInstance(database: TestDatabase) {
  const other = new DataSource({
    ...(database.options as object),
    entities: [...PluginHostEntities],
    synchronize: false,
  } as unknown as ConstructorParameters<typeof DataSource>[0]);
  await other.initialize();
  return { other, rival: new TypeOrmPluginStore(other) };
}
