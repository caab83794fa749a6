import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  decodeNotice,
  encodeNotice,
  splitNotice,
  type PluginChangeNotice,
  type PluginSyncTransport,
} from './plugin-sync.interface.js';

interface PgClient {
  connect(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): void;
  on(event: 'error' | 'end', listener: (error?: Error) => void): void;
  removeAllListeners(): void;
}

/**
 * PostgreSQL LISTEN/NOTIFY on a dedicated connection (never a pooled one: a pooled client would be
 * handed to queries and lose its LISTEN). Publishing goes through the data source's pool. The
 * listener reconnects with backoff and asks for a full resync after every reconnect.
 */
export class PostgresNotifyTransport implements PluginSyncTransport {
  readonly name = 'postgres-notify';
  private readonly logger = new Logger('PluginHost');
  private client: PgClient | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempts = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly channel: string,
  ) {}

  async start(onNotice: (notice: PluginChangeNotice) => void, onResync: () => void): Promise<void> {
    await this.connect(onNotice, onResync, false);
  }

  async publish(notice: PluginChangeNotice): Promise<void> {
    for (const part of splitNotice(notice)) {
      await this.dataSource.query('SELECT pg_notify($1, $2)', [this.channel, encodeNotice(part)]);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (client) await discard(client);
  }

  private async connect(
    onNotice: (notice: PluginChangeNotice) => void,
    onResync: () => void,
    resync: boolean,
  ): Promise<void> {
    const driver = this.dataSource.driver as unknown as {
      postgres: { Client: new (config: object) => PgClient };
      options: Record<string, unknown>;
    };
    const o = driver.options;
    const client = new driver.postgres.Client({
      connectionString: o.url,
      host: o.host,
      port: o.port,
      user: o.username,
      password: o.password,
      database: o.database,
      ssl: o.ssl,
      application_name: 'nest-plugin-host listener',
    });
    let failed = false;
    const fail = (error?: Error) => {
      if (failed || this.stopped) return;
      failed = true;
      this.client = undefined;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      this.logger.warn(
        `PostgreSQL change listener lost its connection (${error?.message ?? 'closed'}); reconnecting.`,
      );
      this.scheduleReconnect(onNotice, onResync);
    };
    client.on('error', fail);
    client.on('end', () => fail());
    client.on('notification', (message) => {
      if (message.channel !== this.channel || !message.payload) return;
      const notice = decodeNotice(message.payload);
      if (notice) onNotice(notice);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel.replace(/"/g, '""')}"`);
    } catch (error) {
      if (this.stopped) return discard(client);
      fail(error as Error);
      // At boot the caller logs the failure; the listener keeps retrying meanwhile.
      if (!resync) throw error;
      return;
    }
    // Stopped while connecting: `stop()` could not see this client.
    if (this.stopped) return discard(client);
    this.client = client;
    this.attempts = 0;
    if (resync) {
      this.logger.log('PostgreSQL change listener reconnected; resyncing.');
      onResync();
    }
  }

  private scheduleReconnect(
    onNotice: (notice: PluginChangeNotice) => void,
    onResync: () => void,
  ): void {
    if (this.stopped) return;
    const delay = Math.min(100 * 2 ** this.attempts++, 5_000);
    this.retryTimer = setTimeout(() => {
      void this.connect(onNotice, onResync, true);
    }, delay);
    this.retryTimer.unref();
  }
}

/** Closes a listener connection for good, ignoring what it reports on the way. */
async function discard(client: PgClient): Promise<void> {
  client.removeAllListeners();
  client.on('error', () => undefined);
  await client.end().catch(() => undefined);
}
