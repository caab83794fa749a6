import {
  Module,
  type DynamicModule,
  type INestApplication,
  type Provider,
  type Type,
} from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
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
}

export const DEFAULT_PROVIDERS: Provider[] = [NewsletterPlugin, MailPlugin, BillingService];

/** Boots a real Nest app (Express) with the fixtures, listening on an ephemeral port. */
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
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
