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
 * Gives body-parser rejections on the module's routes (malformed JSON, a JSON string or number as the
 * body, a body over the app's limit) the same `{ statusCode, code, message }` shape as every other
 * error. Express parses bodies before routing, so a controller filter never sees these errors; this
 * error middleware is added after the routes and before Nest's own handler, and passes every error
 * outside the module's path on untouched.
 */
@Injectable()
export class PluginHostParseErrorMiddleware implements OnModuleInit {
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
  }
}

function joinPath(...parts: string[]): string {
  return `/${parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
}
