import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

export type Platform = 'express' | 'fastify';

/** Boots `module` as an HTTP app on an ephemeral loopback port; resolves the app and its base URL. */
export async function listen(
  module: Type,
  platform: Platform = 'express',
): Promise<{ app: INestApplication; url: string }> {
  let app: INestApplication;
  if (platform === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(module, new FastifyAdapter(), {
      logger: false,
      abortOnError: false,
    });
  } else {
    app = await NestFactory.create(module, { logger: false, abortOnError: false });
  }
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}` };
}

/** One request, to check a route answers what the bench expects before timing it. */
export async function expectJson(
  url: string,
  init: { method?: string; body?: string } = {},
): Promise<unknown> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    body: init.body,
    headers: init.body ? { 'content-type': 'application/json' } : undefined,
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`${init.method ?? 'GET'} ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}
