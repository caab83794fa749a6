import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { map, type Observable } from 'rxjs';

/**
 * Gives a response holding one plugin `ETag: "<version>"`, ready to be sent back as `If-Match`.
 * Applied to the routes that answer with a plugin only, so the others (the run route above all)
 * do not pay for an interceptor.
 */
@Injectable()
export class PluginHostETagInterceptor implements NestInterceptor {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const response: unknown = context.switchToHttp().getResponse();
    return next.handle().pipe(
      map((body: unknown) => {
        const plugin = body as { slug?: unknown; version?: unknown } | null;
        if (typeof plugin?.version === 'number' && typeof plugin.slug === 'string') {
          this.adapterHost.httpAdapter.setHeader(response, 'ETag', `"${plugin.version}"`);
        }
        return body;
      }),
    );
  }
}
