import { Inject, Injectable } from '@nestjs/common';
import type { PluginStore } from './interfaces/plugin-store.interface.js';
import { PLUGIN_STORE } from './plugin-host.constants.js';
import { PluginSyncService } from './sync/plugin-sync.service.js';

/** Options of {@link PluginHostHealthIndicator.isHealthy}. */
export interface PluginHostHealthOptions {
  /** How long the store probe may take before the store counts as unreachable. @default 1000 */
  timeoutMs?: number;
  /**
   * Report `down` when this instance has not confirmed it is in step with the store for longer than
   * this. Leave unset when polling is off and changes are rare (the lag then only measures quiet).
   */
  maxSyncLagMs?: number;
}

/** What the indicator reports under its key; the shape `@nestjs/terminus` expects. */
export interface PluginHostHealthDetails {
  status: 'up' | 'down';
  /** Whether a cheap read of the store succeeded within the time limit. */
  store: 'reachable' | 'unreachable';
  /** Milliseconds since this instance last confirmed it was in step with the store. */
  syncLagMs: number;
  /** Sync transports in use, e.g. `['postgres-notify', 'polling']`. */
  transports: string[];
  /** Why it is down, when it is. */
  reason?: string;
}

/**
 * A health indicator for `@nestjs/terminus` (which stays optional: this class does not import it).
 *
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.pluginHost.isHealthy('plugin-host', { maxSyncLagMs: 30_000 })]); }
 * ```
 */
@Injectable()
export class PluginHostHealthIndicator {
  constructor(
    @Inject(PLUGIN_STORE) private readonly store: PluginStore,
    private readonly sync: PluginSyncService,
  ) {}

  async isHealthy(
    key = 'plugin-host',
    options: PluginHostHealthOptions = {},
  ): Promise<Record<string, PluginHostHealthDetails>> {
    const reachable = await this.probe(options.timeoutMs ?? 1_000);
    const syncLagMs = Date.now() - this.sync.lastConfirmedAt;
    const lagging = options.maxSyncLagMs !== undefined && syncLagMs > options.maxSyncLagMs;
    const details: PluginHostHealthDetails = {
      status: reachable && !lagging ? 'up' : 'down',
      store: reachable ? 'reachable' : 'unreachable',
      syncLagMs,
      transports: this.sync.transportNames,
    };
    if (!reachable)
      details.reason = 'The plugin store did not answer; serving the last known state.';
    else if (lagging) details.reason = `Not in step with the store for ${syncLagMs} ms.`;
    return { [key]: details };
  }

  private async probe(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const read = (this.store.fingerprint ? this.store.fingerprint() : this.store.all()).then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([read, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
