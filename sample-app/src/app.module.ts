import { Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { mkdirSync } from 'node:fs';
import { PluginHostModule } from 'nest-plugin-host';
import { PluginEventsListener } from './plugin-events.listener.js';
import { BillingPlugin } from './plugins/billing.plugin.js';
import { CustomersPlugin } from './plugins/customers.plugin.js';
import { MailPlugin } from './plugins/mail.plugin.js';
import { NewsletterPlugin } from './plugins/newsletter.plugin.js';
import { onboardingWorkflow } from './workflows/onboarding.workflow.js';

/** SQLite in ./data/sample.db, or PostgreSQL when DATABASE_URL is set. */
function databaseOptions(): TypeOrmModuleOptions {
  const common = { autoLoadEntities: true, synchronize: true } as const;
  const url = process.env.DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new Error('DATABASE_URL must be a postgres:// URL; unset it to use SQLite in ./data.');
    }
    return { type: 'postgres', url, ...common };
  }
  mkdirSync('data', { recursive: true });
  return { type: 'better-sqlite3', database: 'data/sample.db', enableWAL: true, ...common };
}

@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: databaseOptions }),
    EventEmitterModule.forRoot({ wildcard: true }),
    // Opens every route to anyone: fine on 127.0.0.1, not in production. Production apps pass
    // `guards: [YourAuthGuard]` instead (and, if needed, `authorize` for per-action rules).
    PluginHostModule.forRoot({ allowAnonymous: true, workflows: [onboardingWorkflow] }),
  ],
  providers: [NewsletterPlugin, MailPlugin, BillingPlugin, CustomersPlugin, PluginEventsListener],
})
export class AppModule {}
