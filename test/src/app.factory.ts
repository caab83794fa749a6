import {
  Module,
  type DynamicModule,
  type INestApplication,
  type NestApplicationOptions,
  type Provider,
  type Type,
} from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { PluginHostModule, type PluginHostModuleForRootOptions } from '../../lib/index.js';
import {
  BillingService,
  FixtureController,
  MailPlugin,
  NewsletterPlugin,
} from './plugins.fixture.js';

export interface TestAppOptions {
  /** TypeORM connection; omitted means `store: 'memory'` and no TypeORM at all. */
  database?: TypeOrmModuleOptions;
  host?: PluginHostModuleForRootOptions;
  providers?: Provider[];
  controllers?: Type[];
  events?: boolean;
  imports?: DynamicModule[];
  /** Overrides {@link HTTP_ADAPTER}, for a test that compares both. */
  adapter?: HttpAdapterName;
  /** Nest application options (`bodyParser`, `rawBody`), beside `logger: false`. */
  app?: Omit<NestApplicationOptions, 'logger'>;
  /** Runs on the created app before `init()` (to set up the platform as a user's `main.ts` would). */
  beforeInit?: (app: INestApplication) => void;
  /** Runs after `init()`, before a Fastify app is made ready. */
  afterInit?: (app: INestApplication) => void;
}

/** How {@link initTestApp} creates the app. */
export type InitOptions = Pick<TestAppOptions, 'app' | 'beforeInit' | 'afterInit'>;

export const DEFAULT_PROVIDERS: Provider[] = [NewsletterPlugin, MailPlugin, BillingService];

/** The HTTP adapter e2e apps run on: `HTTP_ADAPTER=fastify` (set by a vitest project), else Express. */
export const HTTP_ADAPTER: HttpAdapterName =
  process.env.HTTP_ADAPTER === 'fastify' ? 'fastify' : 'express';

export type HttpAdapterName = 'express' | 'fastify';

/**
 * The two platform limits whose Fastify defaults differ from Express's, so that one request means
 * the same on both: the JSON body limit, set to Express's (100 KiB; Fastify: 1 MiB), and the route
 * parameter length (Express: none; Fastify: 100 characters, answered 414 by its router before any
 * Nest code runs), raised to the longest capability slug (255).
 */
export const FASTIFY_OPTIONS = { bodyLimit: 100 * 1024, routerOptions: { maxParamLength: 255 } };

/**
 * Creates and initialises the app of a compiled testing module, on {@link HTTP_ADAPTER} unless told.
 * A Fastify app is also made ready, so that `app.getHttpServer()` answers supertest without
 * `listen()`.
 */
export async function initTestApp(
  moduleRef: TestingModule,
  adapter: HttpAdapterName = HTTP_ADAPTER,
  { app: appOptions, beforeInit, afterInit }: InitOptions = {},
): Promise<INestApplication> {
  if (adapter === 'express') {
    const app = moduleRef.createNestApplication({ ...appOptions, logger: false });
    beforeInit?.(app);
    await app.init();
    afterInit?.(app);
    return app;
  }
  const app = moduleRef.createNestApplication<NestFastifyApplication>(
    new FastifyAdapter(FASTIFY_OPTIONS),
    { ...appOptions, logger: false },
  );
  beforeInit?.(app);
  await app.init();
  afterInit?.(app);
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** Boots a real Nest app with the fixtures, on {@link HTTP_ADAPTER} unless `options.adapter`. */
export async function createTestApp(options: TestAppOptions = {}): Promise<INestApplication> {
  const imports: DynamicModule[] = [];
  if (options.database)
    imports.push(
      TypeOrmModule.forRoot({
        ...options.database,
        autoLoadEntities: true,
      } as TypeOrmModuleOptions),
    );
  if (options.events !== false) imports.push(EventEmitterModule.forRoot());
  imports.push(
    PluginHostModule.forRoot({
      allowAnonymous: true,
      ...(options.database ? {} : { store: 'memory' as const }),
      ...options.host,
    }),
  );
  imports.push(...(options.imports ?? []));

  @Module({
    imports,
    providers: options.providers ?? DEFAULT_PROVIDERS,
    controllers: options.controllers ?? [FixtureController],
  })
  class TestAppModule {}

  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  return initTestApp(moduleRef, options.adapter, options);
}
