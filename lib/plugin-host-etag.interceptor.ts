import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { map, type Observable } from 'rxjs';

interface HeaderWriter {
  /** Fastify's reply. */
  header?: (name: string, value: string) => unknown;
  /** Express's (Node.js's) response. */
  setHeader?: (name: string, value: string) => unknown;
}

/**
 * Gives a response holding one plugin `ETag: "<version>"`, ready to be sent back as `If-Match`.
 * Applied to the routes that answer with a plugin only, so the others (the run route above all)
 * do not pay for an interceptor.
 */
@Injectable()
export class PluginHostETagInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const response = context.switchToHttp().getResponse<HeaderWriter>();
    return next.handle().pipe(
      map((body: unknown) => {
        const plugin = body as { slug?: unknown; version?: unknown } | null;
        if (typeof plugin?.version === 'number' && typeof plugin.slug === 'string') {
          const etag = `"${plugin.version}"`;
          if (typeof response.setHeader === 'function') response.setHeader('ETag', etag);
          else response.header?.('ETag', etag);
        }
        return body;
      }),
    );
  }
}
