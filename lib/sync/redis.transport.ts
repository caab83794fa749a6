import { Logger } from '@nestjs/common';
import {
  decodeNotice,
  encodeNotice,
  type PluginChangeNotice,
  type PluginSyncTransport,
} from './plugin-sync.interface.js';

/** Connection settings for the Redis transport: a `redis://` URL or ioredis options. */
export type PluginHostRedisOptions =
  | string
  | {
      host?: string;
      port?: number;
      username?: string;
      password?: string;
      db?: number;
      tls?: object;
      [option: string]: unknown;
    };

interface RedisClient {
  on(event: string, listener: (...args: any[]) => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * Redis pub/sub (ioredis, an optional peer) for any database. Two connections: one subscribed, one to
 * publish. ioredis reconnects and resubscribes by itself; every reconnect triggers a full resync.
 */
export class RedisTransport implements PluginSyncTransport {
  readonly name = 'redis';
  private readonly logger = new Logger('PluginHost');
  private subscriber: RedisClient | undefined;
  private publisher: RedisClient | undefined;

  constructor(
    private readonly connection: PluginHostRedisOptions,
    private readonly channel: string,
  ) {}

  async start(onNotice: (notice: PluginChangeNotice) => void, onResync: () => void): Promise<void> {
    let Redis: new (...args: unknown[]) => RedisClient;
    try {
      ({ Redis } = (await import('ioredis')) as unknown as { Redis: typeof Redis });
    } catch {
      throw new Error(
        'The `redis` option of PluginHostModule needs the `ioredis` package: npm install ioredis',
      );
    }
    const create = () =>
      typeof this.connection === 'string'
        ? new Redis(this.connection, { maxRetriesPerRequest: 2, lazyConnect: true })
        : new Redis({ maxRetriesPerRequest: 2, lazyConnect: true, ...this.connection });
    this.subscriber = create();
    this.publisher = create();
    let ready = 0;
    for (const client of [this.subscriber, this.publisher]) {
      client.on('error', (error: Error) =>
        this.logger.warn(`Redis sync connection error: ${error.message}`),
      );
    }
    this.subscriber.on('ready', () => {
      if (ready++ > 0) {
        this.logger.log('Redis sync subscriber reconnected; resyncing.');
        onResync();
      }
    });
    this.subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      const notice = decodeNotice(payload);
      if (notice) onNotice(notice);
    });
    await (this.subscriber as unknown as { connect(): Promise<void> }).connect();
    await (this.publisher as unknown as { connect(): Promise<void> }).connect();
    await this.subscriber.subscribe(this.channel);
  }

  async publish(notice: PluginChangeNotice): Promise<void> {
    await this.publisher?.publish(this.channel, encodeNotice(notice));
  }

  async stop(): Promise<void> {
    await Promise.all(
      [this.subscriber, this.publisher].map(async (client) => {
        if (!client) return;
        await client.quit().catch(() => client.disconnect());
      }),
    );
    this.subscriber = this.publisher = undefined;
  }
}
