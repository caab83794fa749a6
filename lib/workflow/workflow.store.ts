import { createHash } from 'node:crypto';
import {
  IsNull,
  MoreThan,
  Not,
  type DataSource,
  type ObjectLiteral,
  type Repository,
} from 'typeorm';
import { WorkflowDefinitionEntity } from '../entities/workflow-definition.entity.js';
import { WorkflowRunEntity } from '../entities/workflow-run.entity.js';
import type {
  StoredWorkflow,
  WorkflowDefinition,
  WorkflowRun,
  WorkflowRunPage,
  WorkflowRunQuery,
} from './workflow.interface.js';

/** Where runtime workflow definitions and every run are kept. */
export interface WorkflowStore {
  definitions(): Promise<StoredWorkflow[]>;
  /** Inserts or replaces a runtime definition; resolves it with its new version. */
  saveDefinition(definition: WorkflowDefinition): Promise<StoredWorkflow>;
  deleteDefinition(name: string): Promise<boolean>;
  /** Changes whenever any definition does (for the polling safety net). */
  definitionsFingerprint(): Promise<string>;
  /** Inserts a run; with an idempotency key already used, resolves the existing run instead. */
  createRun(run: WorkflowRun): Promise<WorkflowRun>;
  getRun(id: string): Promise<WorkflowRun | null>;
  /** Writes the run only if its stored version is still `expectedVersion`. */
  saveRun(run: WorkflowRun, expectedVersion: number): Promise<boolean>;
  listRuns(
    query: Required<Pick<WorkflowRunQuery, 'limit'>> & WorkflowRunQuery,
  ): Promise<WorkflowRunPage>;
  /** Pending or running runs whose heartbeat is older than `before` (their instance is gone). */
  abandonedRuns(before: Date): Promise<WorkflowRun[]>;
  /**
   * Completes the schema upgrade that added `idempotency_hash`: fills in the hash of every run
   * written before it. Resolves how many it filled in. Only stores that keep runs from before that
   * upgrade have it.
   */
  hashOlderKeys?(): Promise<number>;
}

/** What the unique index of `plugin_workflow_runs` holds for an idempotency key (SHA-256, hex). */
export function idempotencyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const cursorOf = (run: WorkflowRun) => `${run.createdAt.toISOString()}|${run.id}`;

function parseCursor(cursor: string | undefined): { at: string; id: string } | undefined {
  if (!cursor) return undefined;
  const [at, id] = cursor.split('|');
  return at && id ? { at, id } : undefined;
}

/** Process-local workflow store for `store: 'memory'`; runs past `limit` drop the oldest finished. */
export class InMemoryWorkflowStore implements WorkflowStore {
  private readonly defs = new Map<string, StoredWorkflow>();
  private readonly runs = new Map<string, WorkflowRun>();
  /** Idempotency key -> run id, so a keyed trigger looks up one entry rather than every run. */
  private readonly keys = new Map<string, string>();

  constructor(private readonly limit = 10_000) {}

  async definitions(): Promise<StoredWorkflow[]> {
    return [...this.defs.values()].map((d) => structuredClone(d));
  }

  async saveDefinition(definition: WorkflowDefinition): Promise<StoredWorkflow> {
    const stored: StoredWorkflow = {
      ...structuredClone(definition),
      source: 'runtime',
      version: (this.defs.get(definition.name)?.version ?? 0) + 1,
      updatedAt: new Date(),
    };
    this.defs.set(definition.name, stored);
    return structuredClone(stored);
  }

  async deleteDefinition(name: string): Promise<boolean> {
    return this.defs.delete(name);
  }

  async definitionsFingerprint(): Promise<string> {
    let sum = 0;
    for (const d of this.defs.values()) sum += d.version;
    return `${this.defs.size}:${sum}`;
  }

  async createRun(run: WorkflowRun): Promise<WorkflowRun> {
    if (run.idempotencyKey) {
      const existing = this.runs.get(this.keys.get(run.idempotencyKey) ?? '');
      if (existing) return structuredClone(existing);
      this.keys.set(run.idempotencyKey, run.id);
    }
    this.runs.set(run.id, structuredClone(run));
    if (this.runs.size > this.limit) {
      for (const [id, old] of this.runs) {
        if (old.finishedAt) {
          this.runs.delete(id);
          if (old.idempotencyKey) this.keys.delete(old.idempotencyKey);
          break;
        }
      }
    }
    return structuredClone(run);
  }

  async getRun(id: string): Promise<WorkflowRun | null> {
    const run = this.runs.get(id);
    return run ? structuredClone(run) : null;
  }

  async saveRun(run: WorkflowRun, expectedVersion: number): Promise<boolean> {
    if (this.runs.get(run.id)?.version !== expectedVersion) return false;
    this.runs.set(run.id, structuredClone(run));
    return true;
  }

  async listRuns(
    query: Required<Pick<WorkflowRunQuery, 'limit'>> & WorkflowRunQuery,
  ): Promise<WorkflowRunPage> {
    const after = parseCursor(query.cursor);
    const all = [...this.runs.values()]
      .filter(
        (r) =>
          (!query.workflow || r.workflow === query.workflow) &&
          (!query.status || r.status === query.status),
      )
      .sort((a, b) => cursorOf(b).localeCompare(cursorOf(a)))
      .filter((r) => !after || cursorOf(r) < `${after.at}|${after.id}`);
    const items = all.slice(0, query.limit).map((r) => structuredClone(r));
    return {
      items,
      nextCursor: all.length > query.limit ? cursorOf(items[items.length - 1]) : null,
    };
  }

  async abandonedRuns(before: Date): Promise<WorkflowRun[]> {
    return [...this.runs.values()]
      .filter(
        (r) =>
          (r.status === 'running' || r.status === 'pending') &&
          (r.heartbeatAt === null || r.heartbeatAt < before),
      )
      .map((r) => structuredClone(r));
  }
}

/** Workflow definitions and runs in the app's TypeORM data source. */
export class TypeOrmWorkflowStore implements WorkflowStore {
  private readonly defs: Repository<ObjectLiteral>;
  private readonly runs: Repository<ObjectLiteral>;

  constructor(dataSource: DataSource) {
    this.defs = dataSource.getRepository<ObjectLiteral>(WorkflowDefinitionEntity);
    this.runs = dataSource.getRepository<ObjectLiteral>(WorkflowRunEntity);
  }

  async definitions(): Promise<StoredWorkflow[]> {
    return (await this.defs.find()).map((row) => ({
      name: row.name,
      ...(row.description ? { description: row.description } : {}),
      steps: row.steps,
      source: 'runtime' as const,
      version: row.version,
      updatedAt: new Date(row.updatedAt),
    }));
  }

  async saveDefinition(definition: WorkflowDefinition): Promise<StoredWorkflow> {
    const current = await this.defs.findOneBy({ name: definition.name });
    const version = (current?.version ?? 0) + 1;
    const updatedAt = new Date();
    const row = {
      name: definition.name,
      description: definition.description ?? null,
      steps: definition.steps,
      version,
      updatedAt: updatedAt.toISOString(),
    };
    if (current) await this.defs.update({ name: definition.name }, row);
    else await this.defs.insert(row);
    return { ...definition, source: 'runtime', version, updatedAt };
  }

  async deleteDefinition(name: string): Promise<boolean> {
    return ((await this.defs.delete({ name })).affected ?? 0) > 0;
  }

  async definitionsFingerprint(): Promise<string> {
    const row = await this.defs
      .createQueryBuilder('d')
      .select('COUNT(*)', 'n')
      .addSelect('COALESCE(SUM(d.version), 0)', 'v')
      .getRawOne<{ n: unknown; v: unknown }>();
    return `${Number(row?.n ?? 0)}:${Number(row?.v ?? 0)}`;
  }

  async createRun(run: WorkflowRun): Promise<WorkflowRun> {
    const hash = run.idempotencyKey === null ? null : idempotencyHash(run.idempotencyKey);
    if (hash) {
      const existing = await this.runs.findOneBy({ idempotencyHash: hash });
      if (existing) return fromRow(existing);
      const older = await this.unhashed(run.idempotencyKey!);
      if (older) return fromRow(older);
    }
    try {
      await this.runs.insert({ ...toRow(run), idempotencyHash: hash });
      return run;
    } catch (error) {
      // Another instance used the same idempotency key at the same moment.
      if (hash) {
        const existing = await this.runs.findOneBy({ idempotencyHash: hash });
        if (existing) return fromRow(existing);
      }
      throw error;
    }
  }

  /**
   * A run with this exact key and no hash: written by an instance of the version before
   * `idempotency_hash` (during a rolling upgrade, or before the backfill ran). The index on the key
   * may go by a collation that equates other keys with it, so the match is checked here.
   */
  private async unhashed(key: string): Promise<ObjectLiteral | undefined> {
    const rows = await this.runs.find({
      where: { idempotencyKey: key, idempotencyHash: IsNull() },
      take: 10,
    });
    return rows.find((row) => row.idempotencyKey === key);
  }

  async hashOlderKeys(): Promise<number> {
    const batch = 500;
    let hashed = 0;
    let after = '';
    // By id, so a row that cannot take its hash (a newer run holds the same key: an old instance
    // wrote it during a rolling upgrade) is passed over rather than read again forever.
    for (;;) {
      const rows = await this.runs.find({
        select: { id: true, idempotencyKey: true },
        where: { idempotencyKey: Not(IsNull()), idempotencyHash: IsNull(), id: MoreThan(after) },
        order: { id: 'ASC' },
        take: batch,
      });
      for (const row of rows) {
        const result = await this.runs
          .update(
            { id: row.id, idempotencyHash: IsNull() },
            { idempotencyHash: idempotencyHash(row.idempotencyKey) },
          )
          .catch((error: unknown) => {
            if (isUniqueViolation(error)) return { affected: 0 };
            throw error;
          });
        hashed += result.affected ?? 0;
      }
      if (rows.length < batch) return hashed;
      after = rows[rows.length - 1].id;
    }
  }

  async getRun(id: string): Promise<WorkflowRun | null> {
    const row = await this.runs.findOneBy({ id });
    return row ? fromRow(row) : null;
  }

  async saveRun(run: WorkflowRun, expectedVersion: number): Promise<boolean> {
    const { id, ...fields } = toRow(run);
    const result = await this.runs
      .createQueryBuilder()
      .update(WorkflowRunEntity)
      .set(fields as ObjectLiteral)
      .where('id = :id AND version = :expectedVersion', { id, expectedVersion })
      .execute();
    return result.affected === 1;
  }

  async listRuns(
    query: Required<Pick<WorkflowRunQuery, 'limit'>> & WorkflowRunQuery,
  ): Promise<WorkflowRunPage> {
    const builder = this.runs
      .createQueryBuilder('r')
      .orderBy('r.createdAt', 'DESC')
      .addOrderBy('r.id', 'DESC')
      .take(query.limit + 1);
    if (query.workflow) builder.andWhere('r.workflow = :workflow', { workflow: query.workflow });
    if (query.status) builder.andWhere('r.status = :status', { status: query.status });
    const after = parseCursor(query.cursor);
    if (after) {
      builder.andWhere('(r.createdAt < :at OR (r.createdAt = :at AND r.id < :id))', after);
    }
    const rows = (await builder.getMany()).map(fromRow);
    const items = rows.slice(0, query.limit);
    return {
      items,
      nextCursor: rows.length > query.limit ? cursorOf(items[items.length - 1]) : null,
    };
  }

  async abandonedRuns(before: Date): Promise<WorkflowRun[]> {
    const rows = await this.runs
      .createQueryBuilder('r')
      .where('r.status IN (:...statuses)', { statuses: ['pending', 'running'] })
      .andWhere('(r.heartbeatAt IS NULL OR r.heartbeatAt < :before)', {
        before: before.toISOString(),
      })
      .getMany();
    return rows.map(fromRow);
  }
}

/** A write refused by a unique index, on PostgreSQL, MariaDB/MySQL or SQLite. */
function isUniqueViolation(error: unknown): boolean {
  const cause = (error as { driverError?: { code?: unknown; errno?: unknown } })?.driverError;
  const code = cause?.code ?? (error as { code?: unknown })?.code;
  return (
    code === '23505' ||
    code === 'ER_DUP_ENTRY' ||
    cause?.errno === 1062 ||
    (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'))
  );
}

function toRow(run: WorkflowRun): ObjectLiteral {
  return {
    ...run,
    heartbeatAt: run.heartbeatAt?.toISOString() ?? null,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

function fromRow(row: ObjectLiteral): WorkflowRun {
  return {
    id: row.id,
    workflow: row.workflow,
    status: row.status,
    input: row.input,
    state: row.state,
    currentStep: row.currentStep,
    steps: row.steps,
    error: row.error ?? null,
    idempotencyKey: row.idempotencyKey ?? null,
    definition: row.definition,
    owner: row.owner ?? null,
    heartbeatAt: row.heartbeatAt ? new Date(row.heartbeatAt) : null,
    actor: row.actor,
    version: row.version,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    finishedAt: row.finishedAt ? new Date(row.finishedAt) : null,
  };
}
