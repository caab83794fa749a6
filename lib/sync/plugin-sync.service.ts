import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { PLUGIN_STORE } from '../plugin-host.constants.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from '../plugin-host.module-definition.js';
import type { ResolvedPluginHostOptions } from '../interfaces/plugin-host-options.interface.js';
import type { PluginStore } from '../interfaces/plugin-store.interface.js';
import { TypeOrmPluginStore } from '../stores/typeorm-plugin.store.js';
import type { PluginChangeNotice, PluginSyncTransport } from './plugin-sync.interface.js';
import { PostgresNotifyTransport } from './postgres-notify.transport.js';
import { RedisTransport } from './redis.transport.js';

/** What the sync service keeps up to date: the plugin host's memory. */
export interface PluginSyncTarget {
  readonly instanceId: string;
  /** Applies another instance's commit (re-reading the records it names). */
  applyNotice(notice: PluginChangeNotice): Promise<void>;
  /** Reloads every record, applying what changed. */
  resync(): Promise<void>;
}

/** Longest wait at shutdown for notices and resyncs under way. */
const SHUTDOWN_WAIT_MS = 2_000;

/**
 * Keeps instances that share a store in step: pushes this instance's commits through every transport
 * (PostgreSQL NOTIFY when the store is on PostgreSQL, Redis when configured) and applies the others'.
 * A polling safety net compares a cheap fingerprint of the table every `syncIntervalMs` and reloads
 * only when it moved, so a lost notice costs at most one interval.
 */
@Injectable()
export class PluginSyncService implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('PluginHost');
  private transports: PluginSyncTransport[] = [];
  private timer: NodeJS.Timeout | undefined;
  private fingerprint: string | undefined;
  private polling = false;
  private pollFailing = false;
  private target: PluginSyncTarget | undefined;
  private confirmedAt = Date.now();
  private readonly extraFingerprints: Array<() => Promise<string>> = [];
  /** Notices, resyncs and polls under way: shutdown waits for them before the store closes. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(
    @Inject(PLUGIN_STORE) private readonly store: PluginStore,
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
  ) {}

  /**
   * When this instance last knew it was in step with the store: a poll found the fingerprint
   * unchanged or resynced, or another instance's notice was applied.
   */
  get lastConfirmedAt(): number {
    return this.confirmedAt;
  }

  /** Marks the instance as in step with the store now. */
  confirm(): void {
    this.confirmedAt = Date.now();
  }

  /** Adds a source to the polled fingerprint (workflow definitions use it). */
  addFingerprint(source: () => Promise<string>): void {
    this.extraFingerprints.push(source);
  }

  /** Names of the transports in use, e.g. `['postgres-notify', 'polling']`. */
  get transportNames(): string[] {
    const names = this.transports.map((t) => t.name);
    if (this.timer) names.push('polling');
    return names;
  }

  async start(target: PluginSyncTarget): Promise<void> {
    this.target = target;
    const { store, options } = this;
    if (
      options.notify &&
      store instanceof TypeOrmPluginStore &&
      store.dataSource.options.type === 'postgres'
    ) {
      this.transports.push(new PostgresNotifyTransport(store.dataSource, options.syncChannel));
    }
    if (options.redis) this.transports.push(new RedisTransport(options.redis, options.syncChannel));
    for (const transport of this.transports) {
      try {
        await transport.start(
          (notice) => this.receive(notice),
          () => this.resync(`${transport.name} reconnected`),
        );
      } catch (error) {
        this.logger.warn(
          `Sync transport ${transport.name} could not start (${(error as Error).message}); ` +
            'changes from other instances arrive by polling until it recovers.',
        );
      }
    }
    if (options.syncIntervalMs > 0 && store.fingerprint !== undefined) {
      this.fingerprint = undefined;
      this.timer = setInterval(() => this.track(this.poll()), options.syncIntervalMs);
      this.timer.unref();
    }
  }

  /** Tells the other instances about a commit. Never throws: polling covers a lost notice. */
  async publish(notice: PluginChangeNotice): Promise<void> {
    if (this.transports.length === 0) return;
    await Promise.all(
      this.transports.map((transport) =>
        transport.publish(notice).catch((error: Error) => {
          this.logger.warn(
            `Could not publish a change through ${transport.name}: ${error.message}`,
          );
        }),
      ),
    );
  }

  /**
   * Stops taking in other instances' changes and waits (bounded) for the work already under way,
   * before the data source closes (in the modules' `onApplicationShutdown`): a notice applied
   * meanwhile would fail on a closed store. The transports stay up until then, so a request still
   * finishing while the HTTP server closes (after this hook) announces its commit.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopTakingChanges();
    // Bounded: a store that stopped answering must not hold the app's shutdown.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.inFlight),
      new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS).unref())),
    ]);
    clearTimeout(timer);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopTakingChanges();
    const transports = this.transports;
    this.transports = [];
    await Promise.all(transports.map((t) => t.stop().catch(() => undefined)));
  }

  private stopTakingChanges(): void {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private receive(notice: PluginChangeNotice): void {
    const target = this.target;
    if (!target || this.stopping || notice.instance === target.instanceId) return;
    this.track(
      target.applyNotice(notice).then(
        () => this.confirm(),
        (error: Error) => {
          this.logger.warn(
            `Could not apply a change from instance ${notice.instance}: ${error.message}`,
          );
        },
      ),
    );
  }

  private resync(reason: string): void {
    if (!this.target || this.stopping) return;
    this.track(
      this.target.resync().then(
        () => this.confirm(),
        (error: Error) => {
          this.logger.warn(`Resync after ${reason} failed: ${error.message}; polling will retry.`);
        },
      ),
    );
  }

  /** Compares the table's fingerprint with the last one seen; reloads only when it moved. */
  private async poll(): Promise<void> {
    if (this.polling || !this.target || !this.store.fingerprint) return;
    this.polling = true;
    try {
      const parts = await Promise.all([
        this.store.fingerprint(),
        ...this.extraFingerprints.map((f) => f()),
      ]);
      const fingerprint = parts.join('/');
      if (this.pollFailing) {
        this.pollFailing = false;
        this.logger.log('Plugin store reachable again; resyncing.');
        this.fingerprint = undefined;
      }
      if (fingerprint !== this.fingerprint) {
        await this.target.resync();
        this.fingerprint = fingerprint;
      }
      this.confirm();
    } catch (error) {
      if (!this.pollFailing) {
        this.pollFailing = true;
        this.logger.warn(
          `Plugin store unreachable (${(error as Error).message}); serving the last known state.`,
        );
      }
    } finally {
      this.polling = false;
    }
  }
}
