import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryColumn,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';

/** A JSON object: what a plugin's `config` always is. */
export type JsonObject = { [key: string]: JsonValue };
/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/**
 * One hosted plugin: a row of the `plugins` table. Its JSON form has exactly these camelCase fields.
 *
 * Objects handed out by {@link PluginHostService} are frozen snapshots: a change produces a new object.
 */
@Entity({ name: 'plugins' })
export class Plugin {
  /** Primary key, `^[a-z0-9][a-z0-9-]{0,62}$`. @example 'newsletter' */
  @PrimaryColumn({ type: 'varchar', length: 63 })
  slug!: string;

  /** Free classification shown in the admin UI. @default 'capability' @example 'integration' */
  @Column({ type: 'varchar', length: 63, default: 'capability' })
  kind!: string;

  /** Whether the plugin's capabilities may run. @default true */
  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  /** The plugin's settings, always a JSON object. @default {} */
  @Column({ type: 'simple-json' })
  config!: JsonObject;

  /** Whether the plugin appears in `nav()`. @default false */
  @Column({ type: 'boolean', default: false })
  nav!: boolean;

  /** Position in the navigation: ascending, ties broken by slug. @default 0 */
  @Column({ type: 'integer', default: 0 })
  sort!: number;

  /** English label; `null` falls back to the slug. */
  @Column({ name: 'label_en', type: 'varchar', length: 255, nullable: true })
  labelEn!: string | null;

  /** Arabic label; `null` falls back to the English label. */
  @Column({ name: 'label_ar', type: 'varchar', length: 255, nullable: true })
  labelAr!: string | null;

  /** Incremented by every write; the basis of optimistic concurrency (`If-Match`). */
  @VersionColumn({ type: 'integer' })
  version!: number;

  /** When the record was first written. */
  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  /** When the record was last written. */
  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}
