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
    const subscriber = (this.subscriber = create());
    this.publisher = create();
    for (const client of [subscriber, this.publisher]) {
      client.on('error', (error: Error) =>
        this.logger.warn(`Redis sync connection error: ${error.message}`),
      );
    }
    // Connected at boot: the first 'ready' is that connection. Any later one (or the first, when
    // Redis was down at boot and ioredis kept retrying) follows a gap: resync.
    let subscribed = false;
    let bootFailed = false;
    subscriber.on('ready', () => {
      if (!subscribed && bootFailed) {
        // ioredis resubscribes only to channels it had subscribed to before a reconnect.
        subscribed = true;
        subscriber.subscribe(this.channel).then(
          () => {
            this.logger.log('Redis sync subscriber connected; resyncing.');
            onResync();
          },
          (error: Error) => {
            subscribed = false; // the next 'ready' tries again
            this.logger.warn(`Redis sync could not subscribe: ${error.message}`);
          },
        );
      } else if (subscribed) {
        this.logger.log('Redis sync subscriber reconnected; resyncing.');
        onResync();
      }
    });
    subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      const notice = decodeNotice(payload);
      if (notice) onNotice(notice);
    });
    try {
      await (subscriber as unknown as { connect(): Promise<void> }).connect();
      await subscriber.subscribe(this.channel);
      subscribed = true;
    } catch (error) {
      // ioredis keeps reconnecting: the 'ready' handler subscribes once Redis is back.
      bootFailed = true;
      throw error;
    } finally {
      // The publisher reconnects by itself too; a publish while it is down only logs a warning.
      await (this.publisher as unknown as { connect(): Promise<void> }).connect().catch(() => {});
    }
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
