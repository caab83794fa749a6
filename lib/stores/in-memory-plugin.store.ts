import { DEFAULT_MEMORY_LIMIT } from '../plugin-host.constants.js';
import type { Plugin } from '../entities/plugin.entity.js';
import { PluginStoreFullError } from '../plugin-host.errors.js';
import type { PluginStore, PluginWrite } from '../interfaces/plugin-store.interface.js';

/**
 * A bounded, process-local store: the fallback when the app has no database (`store: 'memory'`).
 * Records are copied in and out, so no caller can change a stored record by reference. Past `limit`
 * records, `insert` and `upsert` of a new slug fail with `PluginStoreFullError`; nothing is evicted.
 */
export class InMemoryPluginStore implements PluginStore {
  readonly description = 'memory';
  private readonly records = new Map<string, Plugin>();

  /** @param limit most records held. @default 10000 */
  constructor(readonly limit: number = DEFAULT_MEMORY_LIMIT) {}

  async all(): Promise<Plugin[]> {
    return [...this.records.values()].map(copy);
  }

  async get(slug: string): Promise<Plugin | null> {
    const found = this.records.get(slug);
    return found ? copy(found) : null;
  }

  async upsert(plugin: Plugin): Promise<Plugin> {
    if (!this.records.has(plugin.slug)) this.assertRoom();
    this.records.set(plugin.slug, copy(plugin));
    return copy(plugin);
  }

  async insert(plugin: Plugin): Promise<boolean> {
    if (this.records.has(plugin.slug)) return false;
    this.assertRoom();
    this.records.set(plugin.slug, copy(plugin));
    return true;
  }

  async write(writes: readonly PluginWrite[]): Promise<boolean> {
    for (const { next, expectedVersion } of writes) {
      if (this.records.get(next.slug)?.version !== expectedVersion) return false;
    }
    for (const { next } of writes) this.records.set(next.slug, copy(next));
    return true;
  }

  async delete(slug: string, expectedVersion?: number): Promise<boolean> {
    const found = this.records.get(slug);
    if (!found || (expectedVersion !== undefined && found.version !== expectedVersion))
      return false;
    return this.records.delete(slug);
  }

  async fingerprint(): Promise<string> {
    let versions = 0;
    let latest = 0;
    for (const record of this.records.values()) {
      versions += record.version;
      latest = Math.max(latest, record.updatedAt.getTime());
    }
    return `${this.records.size}:${versions}:${latest}`;
  }

  private assertRoom(): void {
    if (this.records.size >= this.limit) throw new PluginStoreFullError(this.limit);
  }
}

function copy(plugin: Plugin): Plugin {
  return {
    ...plugin,
    config: structuredClone(plugin.config),
    createdAt: new Date(plugin.createdAt),
    updatedAt: new Date(plugin.updatedAt),
  };
}
