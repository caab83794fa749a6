import type { DataSource, EntityManager, ObjectLiteral, Repository } from 'typeorm';
import { Plugin } from '../entities/plugin.entity.js';
import type { PluginStore, PluginWrite } from '../interfaces/plugin-store.interface.js';

const SINGLE_CONNECTION_DRIVERS = new Set([
  'better-sqlite3',
  'sqlite',
  'sqljs',
  'capacitor',
  'expo',
]);

/** Thrown inside a transaction to roll it back when a conditional write misses. */
class WriteMissed extends Error {}

/**
 * Keeps plugin records in the `plugins` table of a TypeORM data source (PostgreSQL, MariaDB/MySQL,
 * SQLite). Every conditional write is a single `UPDATE ... WHERE slug = ? AND version = ?`, so
 * concurrent writers from any number of instances never lose an update. On single-connection drivers
 * (SQLite) operations are queued, because two transactions on one connection fail.
 */
export class TypeOrmPluginStore implements PluginStore {
  readonly description: string;
  // Loosely typed: TypeORM's deep partial types recurse forever on the JSON `config` type.
  private readonly repository: Repository<ObjectLiteral>;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly serialise: boolean;

  /** @param dataSource an initialised data source whose entities include {@link Plugin}. */
  constructor(readonly dataSource: DataSource) {
    this.repository = dataSource.getRepository<ObjectLiteral>(Plugin);
    this.serialise = SINGLE_CONNECTION_DRIVERS.has(dataSource.options.type);
    this.description = `typeorm(${dataSource.options.type})`;
  }

  all(): Promise<Plugin[]> {
    return this.run(async () => (await this.repository.find()).map(plain));
  }

  get(slug: string): Promise<Plugin | null> {
    return this.run(async () => {
      const row = await this.repository.findOneBy({ slug });
      return row ? plain(row) : null;
    });
  }

  upsert(plugin: Plugin): Promise<Plugin> {
    return this.run(async () => {
      await this.repository.upsert({ ...plugin }, ['slug']);
      return plugin;
    });
  }

  insert(plugin: Plugin): Promise<boolean> {
    return this.run(async () => {
      if (await this.repository.existsBy({ slug: plugin.slug })) return false;
      try {
        await this.repository.insert({ ...plugin });
        return true;
      } catch (error) {
        // Another instance inserted the same slug between our check and our insert.
        if (await this.repository.existsBy({ slug: plugin.slug })) return false;
        throw error;
      }
    });
  }

  write(writes: readonly PluginWrite[]): Promise<boolean> {
    if (writes.length === 0) return Promise.resolve(true);
    return this.run(async () => {
      if (writes.length === 1) return this.writeOne(this.dataSource.manager, writes[0]);
      try {
        await this.dataSource.transaction(async (manager) => {
          for (const write of writes) {
            if (!(await this.writeOne(manager, write))) throw new WriteMissed();
          }
        });
        return true;
      } catch (error) {
        if (error instanceof WriteMissed) return false;
        throw error;
      }
    });
  }

  delete(slug: string, expectedVersion?: number): Promise<boolean> {
    return this.run(async () => {
      const query = this.repository
        .createQueryBuilder()
        .delete()
        .from(Plugin)
        .where('slug = :slug', { slug });
      if (expectedVersion !== undefined)
        query.andWhere('version = :expectedVersion', { expectedVersion });
      const result = await query.execute();
      return (result.affected ?? 0) > 0;
    });
  }

  fingerprint(): Promise<string> {
    return this.run(async () => {
      const row = await this.repository
        .createQueryBuilder('p')
        .select('COUNT(*)', 'n')
        .addSelect('COALESCE(SUM(p.version), 0)', 'v')
        .addSelect('MAX(p.updatedAt)', 'u')
        .getRawOne<{ n: unknown; v: unknown; u: unknown }>();
      const latest = row?.u instanceof Date ? row.u.toISOString() : String(row?.u ?? '');
      return `${Number(row?.n ?? 0)}:${Number(row?.v ?? 0)}:${latest}`;
    });
  }

  private async writeOne(
    manager: EntityManager,
    { next, expectedVersion }: PluginWrite,
  ): Promise<boolean> {
    const { slug, createdAt: _createdAt, ...fields } = next;
    const result = await manager
      .createQueryBuilder()
      .update<ObjectLiteral>(Plugin)
      .set(fields as ObjectLiteral)
      .where('slug = :slug AND version = :expectedVersion', { slug, expectedVersion })
      .execute();
    return result.affected === 1;
  }

  private run<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.serialise) return operation();
    const result = this.queue.then(operation, operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function plain(row: ObjectLiteral): Plugin {
  return {
    slug: row.slug,
    kind: row.kind,
    enabled: row.enabled,
    config: row.config ?? {},
    nav: row.nav,
    sort: row.sort,
    labelEn: row.labelEn ?? null,
    labelAr: row.labelAr ?? null,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
