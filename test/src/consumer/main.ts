// A consumer app compiled against the packed tarball's .d.ts, once as ESM and once as CommonJS.
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  Capability,
  HostedPlugin,
  PluginHostModule,
  PluginHostService,
  type CapabilityContext,
  type Plugin,
} from 'nest-plugin-host';

@HostedPlugin({ slug: 'greeter', labelEn: 'Greeter', config: { greeting: 'Hello' } })
@Injectable()
class GreeterPlugin {
  @Capability('greeter.greet')
  greet(input: { name: string }, ctx: CapabilityContext): { message: string } {
    return { message: `${String(ctx.plugin.config.greeting)}, ${input.name}!` };
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'better-sqlite3',
      database: process.env.DB_FILE ?? ':memory:',
      autoLoadEntities: true,
      synchronize: true,
    }),
    PluginHostModule.forRoot({ allowAnonymous: true }),
  ],
  providers: [GreeterPlugin],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const response = await fetch(`${url}/api/plugin-host/capabilities/greeter.greet/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'consumer' }),
  });
  const plugin: Plugin = app.get(PluginHostService).get('greeter');
  // The admin page is served from the installed package's own files.
  const page = await fetch(`${url}/api/plugin-host/ui`);
  const script = await fetch(`${url}/api/plugin-host/ui/app.js`);
  console.log(
    JSON.stringify({
      status: response.status,
      body: await response.json(),
      version: plugin.version,
      ui: [page.status, (await page.text()).includes('ui/app.js'), script.status],
    }),
  );
  await app.close();
}

void main();
