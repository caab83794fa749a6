import type { DataSource, EntityManager, ObjectLiteral, Repository } from 'typeorm';
import { Plugin } from '../entities/plugin.entity.js';
import { PluginAuditEntry } from '../entities/plugin-audit-entry.entity.js';
import type {
  PluginAuditPage,
  PluginAuditQuery,
  PluginAuditRecord,
  PluginInsert,
  PluginStore,
  PluginWrite,
  PluginVersionCheck,
  PluginWriteOptions,
} from '../interfaces/plugin-store.interface.js';

/** The largest value of the audit table's `integer` id on PostgreSQL and MariaDB. */
const INT4_MAX = 2_147_483_647;

const SINGLE_CONNECTION_DRIVERS = new Set([
  'better-sqlite3',
  'sqlite',
  'sqljs',
  'capacitor',
  'expo',
]);

/** Most rows in one multi-row INSERT (parameter limits: 11 per plugin row). */
const INSERT_CHUNK = 500;

/** `get`'s statement, built once from the entity metadata. */
interface PreparedSelect {
  sql: string;
  hydrate(raw: ObjectLiteral): ObjectLiteral;
}

/** Drivers whose `SELECT ... FOR UPDATE` locks rows (TypeORM refuses or ignores it elsewhere). */
const ROW_LOCK_DRIVERS = new Set([
  'postgres',
  'aurora-postgres',
  'cockroachdb',
  'mysql',
  'mariadb',
  'aurora-mysql',
]);

/** Rows locked per statement by a multi-row write, below every driver's parameter limit. */
const LOCK_CHUNK = 1000;

/** A deadlock victim or serialization failure (PostgreSQL 40P01 / 40001, MySQL 1213). */
function isLostRace(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  return code === '40P01' || code === '40001' || code === 'ER_LOCK_DEADLOCK' || errno === 1213;
}

/** `items` in runs of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let i = 0; i < items.length; i += size) runs.push(items.slice(i, i + size));
  return runs;
}

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
  private readonly sqlite: SqliteDatabase | undefined;
  /** Whether the driver takes `SELECT ... FOR UPDATE` row locks. */
  private readonly rowLocks: boolean;
  private selectOne?: PreparedSelect;

  /** @param dataSource an initialised data source whose entities include {@link Plugin}. */
  constructor(readonly dataSource: DataSource) {
    this.repository = dataSource.getRepository<ObjectLiteral>(Plugin);
    this.serialise = SINGLE_CONNECTION_DRIVERS.has(dataSource.options.type);
    this.rowLocks = ROW_LOCK_DRIVERS.has(dataSource.options.type);
    this.description = `typeorm(${dataSource.options.type})`;
    if (dataSource.options.type === 'better-sqlite3') {
      this.sqlite = (
        dataSource.driver as unknown as { databaseConnection: SqliteDatabase }
      ).databaseConnection;
    }
  }

  all(): Promise<Plugin[]> {
    return this.run(async () => (await this.repository.find()).map(plain));
  }

  /**
   * One record by primary key, as a prepared plain SELECT hydrated with the driver's own value
   * conversion: what every other instance runs when a change is announced, where `findOneBy`'s
   * find-options machinery cost several times the query (see bench/RESULTS.md, propagation).
   */
  get(slug: string): Promise<Plugin | null> {
    return this.run(async () => {
      const select = (this.selectOne ??= this.prepareSelectOne());
      const rows = (await this.dataSource.query(select.sql, [slug])) as ObjectLiteral[];
      return rows.length > 0 ? plain(select.hydrate(rows[0])) : null;
    });
  }

  private prepareSelectOne(): PreparedSelect {
    const metadata = this.repository.metadata;
    const driver = this.dataSource.driver;
    const columns = metadata.columns.map((column) => ({
      column,
      alias: `c_${column.propertyName}`,
    }));
    const query = this.repository.createQueryBuilder('p').select([]);
    // addSelect quotes the alias: PostgreSQL folds unquoted names to lower case.
    for (const { column, alias } of columns) query.addSelect(`p.${column.propertyName}`, alias);
    const [sql] = query.where('p.slug = :slug', { slug: '' }).getQueryAndParameters();
    return {
      sql,
      hydrate: (raw) => {
        const row: ObjectLiteral = {};
        for (const { column, alias } of columns) {
          row[column.propertyName] = driver.prepareHydratedValue(raw[alias], column);
        }
        return row;
      },
    };
  }

  upsert(plugin: Plugin): Promise<Plugin> {
    return this.run(async () => {
      await this.repository.upsert({ ...plugin }, ['slug']);
      return plugin;
    });
  }

  insert(plugin: Plugin, audit: readonly PluginAuditRecord[] = []): Promise<boolean> {
    return this.run(async () => {
      if (await this.repository.existsBy({ slug: plugin.slug })) return false;
      try {
        return await this.execute([
          {
            build: (m) =>
              m
                .createQueryBuilder()
                .insert()
                .into(Plugin)
                .values({ ...plugin } as ObjectLiteral),
          },
          ...auditStatements(audit),
        ]);
      } catch (error) {
        // Another instance inserted the same slug between our check and our insert.
        if (await this.repository.existsBy({ slug: plugin.slug })) return false;
        throw error;
      }
    });
  }

  /**
   * The free slugs among `entries` inserted in one transaction (multi-row INSERTs of at most
   * {@link INSERT_CHUNK} rows) with their audit rows. If another instance inserts one of them
   * meanwhile, the transaction fails and each entry is inserted on its own instead.
   */
  async insertMany(entries: readonly PluginInsert[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const batched = await this.run(async () => {
      const taken = new Set<string>();
      for (const slugs of chunks(
        entries.map(({ plugin }) => plugin.slug),
        INSERT_CHUNK,
      )) {
        const rows = await this.repository
          .createQueryBuilder('p')
          .select('p.slug', 'slug')
          .where('p.slug IN (:...slugs)', { slugs })
          .getRawMany<{ slug: string }>();
        for (const { slug } of rows) taken.add(slug);
      }
      const seen = new Set<string>();
      const inserted = entries.map(({ plugin }) => {
        const free = !taken.has(plugin.slug) && !seen.has(plugin.slug);
        seen.add(plugin.slug);
        return free;
      });
      const fresh = entries.filter((_, i) => inserted[i]);
      if (fresh.length === 0) return inserted;
      const statements: Statement[] = [];
      for (const chunk of chunks(fresh, INSERT_CHUNK)) {
        statements.push({
          build: (m) =>
            m
              .createQueryBuilder()
              .insert()
              .into(Plugin)
              .values(chunk.map(({ plugin }) => ({ ...plugin }) as ObjectLiteral))
              .updateEntity(false),
        });
        statements.push(...auditStatements(chunk.flatMap(({ audit = [] }) => audit)));
      }
      try {
        await this.execute(statements);
        return inserted;
      } catch {
        return null;
      }
    });
    if (batched) return batched;
    const inserted: boolean[] = [];
    for (const { plugin, audit } of entries) inserted.push(await this.insert(plugin, audit));
    return inserted;
  }

  write(
    writes: readonly PluginWrite[],
    audit: readonly PluginAuditRecord[] = [],
    options: PluginWriteOptions = {},
  ): Promise<boolean> {
    const unchanged = options.unchanged ?? [];
    if (writes.length === 0 && unchanged.length === 0) return Promise.resolve(true);
    // Several rows: lock them all first, in one order, so that two multi-row writes (reorders)
    // wait for each other instead of deadlocking on rows they update in different orders.
    const lock = unchanged.length > 0 || writes.length > 1;
    return this.run(() =>
      this.execute(
        [
          ...(lock ? this.lockAndCheck(writes, unchanged) : []),
          ...writes.map(({ next, expectedVersion }): Statement => {
            const { slug, createdAt: _createdAt, ...fields } = next;
            return {
              mustChangeOne: true,
              build: (m) =>
                m
                  .createQueryBuilder()
                  .update<ObjectLiteral>(Plugin)
                  .set(fields as ObjectLiteral)
                  .where('slug = :slug AND version = :expectedVersion', { slug, expectedVersion }),
            };
          }),
          ...auditStatements(audit),
        ],
        true,
      ),
    );
  }

  delete(
    slug: string,
    expectedVersion?: number,
    audit: readonly PluginAuditRecord[] = [],
  ): Promise<boolean> {
    return this.run(() =>
      this.execute([
        {
          mustChangeOne: true,
          build: (m) => {
            const query = m
              .createQueryBuilder()
              .delete()
              .from(Plugin)
              .where('slug = :slug', { slug });
            if (expectedVersion !== undefined) {
              query.andWhere('version = :expectedVersion', { expectedVersion });
            }
            return query;
          },
        },
        ...auditStatements(audit),
      ]),
    );
  }

  audit(query: PluginAuditQuery): Promise<PluginAuditPage> {
    return this.run(async () => {
      const builder = this.dataSource
        .getRepository(PluginAuditEntry)
        .createQueryBuilder('a')
        .orderBy('a.id', 'DESC')
        .take(query.limit + 1);
      if (query.slug) builder.andWhere('a.slug = :slug', { slug: query.slug });
      if (query.action) builder.andWhere('a.action = :action', { action: query.action });
      // Ids are 4-byte integers: every one is below a larger cursor, which PostgreSQL would refuse
      // to compare with the column (out of range for type integer).
      if (query.before !== undefined && query.before <= INT4_MAX) {
        builder.andWhere('a.id < :before', { before: query.before });
      }
      const rows = await builder.getMany();
      const items = rows.slice(0, query.limit).map((row) => ({ ...row, id: Number(row.id) }));
      const nextCursor = rows.length > query.limit ? String(items[items.length - 1].id) : null;
      return { items, nextCursor };
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

  /**
   * Locks every row a multi-row write touches (written and checked alike, in slug order, so two
   * such writes wait for each other instead of deadlocking) and refuses the write if a checked row
   * moved on or is gone. Where the driver has no row locks (SQLite runs one write transaction at a
   * time) the rows are only read and checked.
   */
  private lockAndCheck(
    writes: readonly PluginWrite[],
    unchanged: readonly PluginVersionCheck[],
  ): Statement[] {
    const slugs = [
      ...new Set([...writes.map((w) => w.next.slug), ...unchanged.map((u) => u.slug)]),
    ].sort();
    const expected = new Map(unchanged.map(({ slug, version }) => [slug, version]));
    return chunks(slugs, LOCK_CHUNK).map((chunk): Statement => {
      const checked = chunk.filter((slug) => expected.has(slug));
      return {
        build: (m) => {
          const query = m
            .createQueryBuilder()
            .select('p.slug', 'slug')
            .addSelect('p.version', 'version')
            .from(Plugin, 'p')
            .where('p.slug IN (:...chunk)', { chunk })
            .orderBy('p.slug');
          return this.rowLocks ? query.setLock('pessimistic_write') : query;
        },
        expectRows: (rows) => {
          const found = new Map(
            (rows as Array<{ slug: string; version: unknown }>).map((r) => [
              r.slug,
              Number(r.version),
            ]),
          );
          return checked.every((slug) => found.get(slug) === expected.get(slug));
        },
      };
    });
  }

  /**
   * Runs the statements atomically. Resolves `false` (with nothing written) when a statement that
   * must change exactly one row did not: the compare-and-set missed.
   */
  private async execute(
    statements: readonly Statement[],
    lostRaceMisses = false,
  ): Promise<boolean> {
    if (this.sqlite) return this.executeSync(this.sqlite, statements);
    const apply = async (manager: EntityManager) => {
      for (const statement of statements) {
        const result = await statement.build(manager).execute();
        if (statement.expectRows && !statement.expectRows(result as unknown[])) {
          throw new WriteMissed();
        }
        const { affected } = result as { affected?: number | null };
        if (statement.mustChangeOne && affected !== 1) throw new WriteMissed();
      }
    };
    try {
      if (statements.length === 1) await apply(this.dataSource.manager);
      else await this.dataSource.transaction(apply);
      return true;
    } catch (error) {
      if (error instanceof WriteMissed) return false;
      // The database chose this transaction as a deadlock's or serialization's victim: it wrote
      // nothing, and for a compare-and-set that is a miss to retry, not an outage.
      if (lostRaceMisses && isLostRace(error)) return false;
      throw error;
    }
  }

  /**
   * better-sqlite3 is synchronous: running the whole transaction in one synchronous call means no
   * lock is ever held across an `await`. Held across one, a second app instance in the same process
   * would block the thread in SQLite's busy wait while the holder could never reach its COMMIT.
   */
  private executeSync(db: SqliteDatabase, statements: readonly Statement[]): boolean {
    const compiled = statements.map((statement) => {
      const [sql, parameters] = statement.build(this.dataSource.manager).getQueryAndParameters();
      this.dataSource.logger.logQuery(sql, parameters);
      return {
        sql,
        parameters,
        mustChangeOne: statement.mustChangeOne,
        expectRows: statement.expectRows,
      };
    });
    const transaction = db.transaction(() => {
      for (const { sql, parameters, mustChangeOne, expectRows } of compiled) {
        const statement = db.prepare(sql);
        if (statement.reader) {
          const rows = statement.all(...parameters);
          if (expectRows && !expectRows(rows)) throw new WriteMissed();
          continue;
        }
        const { changes } = statement.run(...parameters);
        if (mustChangeOne && changes !== 1) throw new WriteMissed();
      }
    });
    try {
      transaction.immediate();
      return true;
    } catch (error) {
      if (error instanceof WriteMissed) return false;
      throw error;
    }
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

/** One write statement of an atomic group. */
interface Statement {
  build: (manager: EntityManager) => {
    execute(): Promise<unknown>;
    getQueryAndParameters(): [string, unknown[]];
  };
  /** The statement is a compare-and-set: it must change exactly one row. */
  mustChangeOne?: boolean;
  /** The statement is a read whose rows must pass this check for the group to apply. */
  expectRows?: (rows: unknown[]) => boolean;
}

/** The slice of a better-sqlite3 `Database` the synchronous path uses. */
interface SqliteDatabase {
  prepare(sql: string): {
    reader: boolean;
    run(...parameters: unknown[]): { changes: number };
    all(...parameters: unknown[]): unknown[];
  };
  transaction(work: () => void): { immediate(): void };
}

function auditStatements(audit: readonly PluginAuditRecord[]): Statement[] {
  if (audit.length === 0) return [];
  return [
    {
      build: (m) =>
        m
          .createQueryBuilder()
          .insert()
          .into(PluginAuditEntry)
          .values(audit.map((entry) => ({ ...entry }) as ObjectLiteral))
          .updateEntity(false),
    },
  ];
}
