import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { PLUGIN_HOST_EXTRAS } from './plugin-host.constants.js';
import type { PluginHostModuleExtras } from './interfaces/plugin-host-options.interface.js';
import { bodyParserErrorBody } from './plugin-host-exception.filter.js';

type ErrorMiddleware = (
  error: unknown,
  request: unknown,
  response: unknown,
  next: (error?: unknown) => void,
) => void;

/**
 * Gives what happens outside the controller on the module's path the same `{ statusCode, code,
 * message }` shape as every other error: body-parser rejections (malformed JSON, a JSON string or
 * number as the body, a body over the app's limit: Express parses bodies before routing, so no
 * controller filter sees them) and requests that match no route. Both handlers are added after the
 * routes and before Nest's own; anything outside the module's path passes on untouched.
 */
@Injectable()
export class PluginHostHttpFallback implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
    @Inject(PLUGIN_HOST_EXTRAS) private readonly extras: Required<PluginHostModuleExtras>,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || this.extras.path === false || adapter.getType() !== 'express') return;
    const base = joinPath(this.config.getGlobalPrefix(), this.extras.path);
    const handler: ErrorMiddleware = (error, request, response, next) => {
      const url = String((request as { originalUrl?: string; url?: string }).originalUrl ?? '');
      const body =
        url === base || url.startsWith(`${base}/`) ? bodyParserErrorBody(error) : undefined;
      if (!body) return next(error);
      adapter.reply(response, body, body.statusCode);
    };
    adapter.use(handler);
    adapter.use(base, (request: unknown, response: unknown) => {
      const { method, originalUrl } = request as { method?: string; originalUrl?: string };
      const body = {
        statusCode: 404,
        code: 'NOT_FOUND',
        message: `No route ${method ?? ''} ${String(originalUrl ?? '').split('?')[0]}.`,
      };
      adapter.reply(response, body, 404);
    });
  }
}

function joinPath(...parts: string[]): string {
  return `/${parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
}
