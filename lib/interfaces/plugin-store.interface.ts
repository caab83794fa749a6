import type { Plugin } from '../entities/plugin.entity.js';
import type { PluginAuditAction, PluginAuditEntry } from '../entities/plugin-audit-entry.entity.js';

/** One conditional write: store `next` only if the stored version is still `expectedVersion`. */
export interface PluginWrite {
  /** The full record to store (its `version` is already `expectedVersion + 1`). */
  next: Plugin;
  /** The version the writer read; the write is refused if the stored one differs. */
  expectedVersion: number;
}

/** A record a `write` depends on without changing it: it must still be at `version`. */
export interface PluginVersionCheck {
  slug: string;
  version: number;
}

/** Conditions of a `write` beyond its own records' versions. */
export interface PluginWriteOptions {
  /**
   * Records the write depends on but does not change: it applies only if each is still at the
   * given version, checked in the same transaction (locking those rows where the database can, so
   * two such writes run one after the other). A conditional reorder uses it for the navigation
   * entries it leaves in place. A store that ignores it lets two writes that read the same state
   * but change disjoint records both apply.
   */
  unchanged?: readonly PluginVersionCheck[];
}

/** An audit row to write with a change (the store assigns the id). */
export type PluginAuditRecord = Omit<PluginAuditEntry, 'id'>;

/** Filters and paging of `audit()`. */
export interface PluginAuditQuery {
  slug?: string;
  action?: PluginAuditAction;
  /** Most entries to return. */
  limit: number;
  /** Only entries older than this id (the previous page's `nextCursor`). */
  before?: number;
}

/** One page of audit entries, newest first. */
export interface PluginAuditPage {
  items: PluginAuditEntry[];
  /** Pass as `cursor` for the next page; `null` on the last one. */
  nextCursor: string | null;
}

/** One record for {@link PluginStore.insertMany}, with the audit rows written with it. */
export interface PluginInsert {
  plugin: Plugin;
  audit?: readonly PluginAuditRecord[];
}

/**
 * Where plugin records live. The service keeps every record in memory for reads and goes through the
 * store for every write; the conditional methods (`insert`, `write`, `delete` with a version) are what
 * make concurrent writers from several instances safe.
 *
 * Implementations: {@link InMemoryPluginStore}, {@link TypeOrmPluginStore}; pass your own instance as
 * the `store` option.
 */
export interface PluginStore {
  /** Every record, in any order. */
  all(): Promise<Plugin[]>;
  /** One record, or `null`. */
  get(slug: string): Promise<Plugin | null>;
  /** Unconditional insert-or-replace of the whole record. */
  upsert(plugin: Plugin): Promise<Plugin>;
  /**
   * Insert if no record has this slug, with its audit rows in the same transaction. Resolves `true`
   * if inserted, `false` (and writes nothing) if one already existed.
   */
  insert(plugin: Plugin, audit?: readonly PluginAuditRecord[]): Promise<boolean>;
  /**
   * Inserts each record whose slug is free, with its audit rows, as `insert` does for one: what boot
   * uses for the plugins declared in code. Resolves, per entry, whether it was inserted. Optional:
   * without it the host calls `insert` once per record.
   */
  insertMany?(entries: readonly PluginInsert[]): Promise<boolean[]>;
  /**
   * Apply every write atomically, each only if its record is still at `expectedVersion`, together
   * with the audit rows, and only if every `options.unchanged` record is still at its version.
   * Resolves `false` (and writes nothing) if any record moved on or is gone.
   */
  write(
    writes: readonly PluginWrite[],
    audit?: readonly PluginAuditRecord[],
    options?: PluginWriteOptions,
  ): Promise<boolean>;
  /**
   * Delete a record. With `expectedVersion`, only if it is still at that version.
   * Resolves `true` if a record was deleted (and the audit rows written with it).
   */
  delete(
    slug: string,
    expectedVersion?: number,
    audit?: readonly PluginAuditRecord[],
  ): Promise<boolean>;
  /** A page of the audit log, newest first. Stores without one leave this out (`GET /audit` answers 501). */
  audit?(query: PluginAuditQuery): Promise<PluginAuditPage>;
  /**
   * A cheap summary of the whole table that changes whenever any record does (count, sum of versions,
   * latest update). The polling safety net compares it before reloading everything.
   */
  fingerprint?(): Promise<string>;
  /** Human-readable description for logs, e.g. `typeorm(postgres)`. */
  readonly description?: string;
}
