import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { JsonObject, JsonValue } from './plugin.entity.js';
import type {
  WorkflowDefinition,
  WorkflowError,
  WorkflowStepRecord,
} from '../workflow/workflow.interface.js';

/** One workflow run: a row of `plugin_workflow_runs`. Times are ISO strings (portable ordering). */
@Entity({ name: 'plugin_workflow_runs' })
@Index('IDX_plugin_workflow_runs_workflow', ['workflow'])
@Index('IDX_plugin_workflow_runs_status', ['status'])
@Index('UQ_plugin_workflow_runs_key_hash', ['idempotencyHash'], { unique: true })
@Index('IDX_plugin_workflow_runs_key', ['idempotencyKey'])
export class WorkflowRunEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 63 })
  workflow!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: string;

  @Column({ type: 'simple-json' })
  input!: JsonValue;

  @Column({ type: 'simple-json' })
  state!: JsonObject;

  @Column({ name: 'current_step', type: 'integer' })
  currentStep!: number;

  @Column({ type: 'simple-json' })
  steps!: WorkflowStepRecord[];

  @Column({ type: 'simple-json', nullable: true })
  error!: WorkflowError | null;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  /**
   * SHA-256 of the idempotency key, in hex: what the unique index holds and lookups match. The key
   * itself cannot be indexed as is, since a collation may take distinct keys for one (MariaDB and
   * MySQL's defaults ignore case, accents and trailing spaces).
   */
  @Column({ name: 'idempotency_hash', type: 'varchar', length: 64, nullable: true })
  idempotencyHash!: string | null;

  @Column({ type: 'simple-json' })
  definition!: WorkflowDefinition;

  @Column({ type: 'varchar', length: 64, nullable: true })
  owner!: string | null;

  @Column({ name: 'heartbeat_at', type: 'varchar', length: 30, nullable: true })
  heartbeatAt!: string | null;

  @Column({ type: 'varchar', length: 255 })
  actor!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ name: 'created_at', type: 'varchar', length: 30 })
  createdAt!: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 30 })
  updatedAt!: string;

  @Column({ name: 'finished_at', type: 'varchar', length: 30, nullable: true })
  finishedAt!: string | null;
}
