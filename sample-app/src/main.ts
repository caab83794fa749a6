import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();

  // nest-plugin-host describes its routes for @nestjs/swagger whenever that package is installed.
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('nest-plugin-host sample')
      .setDescription('The runtime plugin API mounted by PluginHostModule')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);

  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST ?? '127.0.0.1';
  await app.listen(port, host);

  const shown = host.includes(':') ? `[${host}]` : host;
  Logger.log(`Plugin host API on http://${shown}:${port}/api/plugin-host`, 'SampleApp');
  Logger.log(`OpenAPI docs on http://${shown}:${port}/docs`, 'SampleApp');
}

void bootstrap();
