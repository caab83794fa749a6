import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { WorkflowStep } from '../workflow/workflow.interface.js';

/** A workflow defined at runtime over REST: a row of `plugin_workflows`. */
@Entity({ name: 'plugin_workflows' })
export class WorkflowDefinitionEntity {
  @PrimaryColumn({ type: 'varchar', length: 63 })
  name!: string;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  description!: string | null;

  @Column({ type: 'simple-json' })
  steps!: WorkflowStep[];

  @Column({ type: 'integer' })
  version!: number;

  @Column({ name: 'updated_at', type: 'varchar', length: 30 })
  updatedAt!: string;
}
