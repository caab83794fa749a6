import {
  HttpException,
  Inject,
  HttpStatus,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import type { ResolvedPluginHostOptions } from './interfaces/plugin-host-options.interface.js';
import { PluginPayloadTooLargeError } from './plugin-host.errors.js';
import { MESSAGES } from './plugin-host.messages.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';

interface HttpRequest {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
}

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * HTTP details of the REST API: a request that carries a body must say it is JSON (415 otherwise,
 * so a cross-site HTML form cannot reach a mutating route), and every response holding one plugin
 * carries `ETag: "<version>"`, ready to be sent back as `If-Match`.
 */
@Injectable()
export class PluginHostHttpInterceptor implements NestInterceptor {
  constructor(
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequest>();
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > this.options.maxBodyBytes) {
      throw new PluginPayloadTooLargeError(
        MESSAGES.bodyTooLarge(length, this.options.maxBodyBytes),
      );
    }
    if (hasBody(request) && !JSON_TYPE.test(String(request.headers['content-type'] ?? ''))) {
      throw new HttpException(
        { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send request bodies as application/json.' },
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
      );
    }
    const response = http.getResponse<{
      header?: (name: string, value: string) => unknown;
      setHeader?: (name: string, value: string) => unknown;
    }>();
    return next.handle().pipe(
      map((body: unknown) => {
        const version = (body as { slug?: unknown; version?: unknown } | null)?.version;
        if (typeof version === 'number' && typeof (body as { slug?: unknown }).slug === 'string') {
          const etag = `"${version}"`;
          if (typeof response.setHeader === 'function') response.setHeader('ETag', etag);
          else response.header?.('ETag', etag);
        }
        return body;
      }),
    );
  }
}

function hasBody(request: HttpRequest): boolean {
  const length = request.headers['content-length'];
  return (
    (length !== undefined && Number(length) > 0) ||
    request.headers['transfer-encoding'] !== undefined
  );
}
