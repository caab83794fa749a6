import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { JsonObject } from './plugin.entity.js';

/** What an audit entry records: the REST/authorize action that made the change. */
export type PluginAuditAction =
  'register' | 'update' | 'toggle' | 'configure' | 'reorder' | 'remove';

/**
 * One change, written in the same transaction as the change itself: a row of `plugin_audit`.
 * `before` and `after` are the plugin as REST shows it (secrets masked).
 */
@Entity({ name: 'plugin_audit' })
@Index('IDX_plugin_audit_slug', ['slug'])
@Index('IDX_plugin_audit_action', ['action'])
export class PluginAuditEntry {
  /** Increasing id; the paging cursor. */
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  /** When the change was committed. */
  @Column({ type: 'varchar', length: 30 })
  at!: string;

  /** Who made it: from the `actor` option over REST, `system` for code. */
  @Column({ type: 'varchar', length: 255 })
  actor!: string;

  @Column({ type: 'varchar', length: 32 })
  action!: PluginAuditAction;

  /** The plugin slug (for a reorder: the slugs that moved, comma-separated, cut at 255 characters). */
  @Column({ type: 'varchar', length: 255 })
  slug!: string;

  /** The plugin before the change, secrets masked; `null` for a registration or a reorder. */
  @Column({ type: 'simple-json', nullable: true })
  before!: JsonObject | null;

  /** The plugin after the change, secrets masked; `null` for a removal. */
  @Column({ type: 'simple-json', nullable: true })
  after!: JsonObject | null;

  /** The instance that made the change. */
  @Column({ type: 'varchar', length: 64 })
  instance!: string;
}
