import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();

  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  await app.listen(port, host);

  const shown = host.includes(':') ? `[${host}]` : host;
  Logger.log(`Plugin host API on http://${shown}:${port}/api/plugin-host`, 'SampleApp');
}

void bootstrap();
