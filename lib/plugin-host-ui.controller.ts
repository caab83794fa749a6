import {
  Controller,
  Get,
  HttpException,
  Inject,
  Param,
  Req,
  Res,
  SetMetadata,
  Sse,
  UseFilters,
  UseGuards,
  type MessageEvent,
  type OnModuleDestroy,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { createRequire } from 'node:module';
import { finished } from 'node:stream/promises';
import { EMPTY, interval, map, merge, Observable, Subject, takeUntil } from 'rxjs';
import type {
  PluginHostAction,
  ResolvedPluginHostOptions,
} from './interfaces/plugin-host-options.interface.js';
import { ErrorResponse } from './dto/responses.dto.js';
import { PluginHostAccessGuard } from './plugin-host-access.guard.js';
import { PLUGIN_HOST_ACTION_METADATA } from './plugin-host.constants.js';
import { PluginHostExceptionFilter } from './plugin-host-exception.filter.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import { PluginHostService } from './plugin-host.service.js';
import { uiAsset } from './ui-assets.util.js';

/** Every action `GET /access` answers for. */
const ACTIONS: readonly PluginHostAction[] = [
  'read',
  'register',
  'update',
  'toggle',
  'configure',
  'remove',
  'reorder',
  'run',
  'audit',
  'workflow.define',
  'workflow.remove',
  'workflow.run',
  'workflow.read',
];
/** The actions whose routes name a plugin slug, so `authorize` may answer them per plugin. */
const PLUGIN_ACTIONS = ['update', 'toggle', 'configure', 'remove'] as const;

/** A comment every 15 s keeps proxies from closing an idle stream and reveals dead clients. */
const HEARTBEAT_MS = 15_000;
/** How long an `EventSource` waits before reconnecting. */
const RETRY_MS = 3_000;

/** The page's own headers: it loads nothing but its two files and talks to its own API only. */
const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** `GET /access`: what the caller may do, so a client can offer only what will succeed. */
export interface PluginHostAccess {
  /** Every action, as `authorize` answers it without a slug (`read` is always `true` here). */
  actions: Record<PluginHostAction, boolean>;
  /**
   * Per plugin slug, the answers for `update`, `toggle`, `configure` and `remove` that differ from
   * `actions` (only an `authorize` that looks at the slug makes any).
   */
  plugins: Record<string, Partial<Record<(typeof PLUGIN_ACTIONS)[number], boolean>>>;
  /** Per capability slug, the answer for `run` where it differs from `actions.run`. */
  capabilities: Record<string, boolean>;
}

interface HttpRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers: Record<string, string | string[] | undefined>;
  /** Express only: the response. */
  res?: NodeJS.WritableStream;
}

const Action = (action: PluginHostAction) => SetMetadata(PLUGIN_HOST_ACTION_METADATA, action);

/**
 * What the admin page needs besides the REST API: the page itself (`GET /ui`, off with `ui: false`),
 * a live stream of changes (`GET /events`) and the caller's rights (`GET /access`). Mounted at the
 * module's `path` like {@link PluginHostController}, behind the same guard as its reads.
 */
@UseGuards(PluginHostAccessGuard)
@UseFilters(PluginHostExceptionFilter)
export class PluginHostUiController implements OnModuleDestroy {
  private readonly closing = new Subject<void>();
  private closed = false;
  /** Open event streams (on Express, which can tell), settled once their response is done. */
  private readonly streams = new Set<Promise<unknown>>();

  constructor(
    private readonly host: PluginHostService,
    private readonly access: PluginHostAccessGuard,
    private readonly adapterHost: HttpAdapterHost,
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
  ) {}

  @Get('access')
  @Action('read')
  async rights(@Req() request: unknown): Promise<PluginHostAccess> {
    const allowed = async (action: PluginHostAction, slug?: string) =>
      this.access.permits(action, slug, request);
    const actions = {} as Record<PluginHostAction, boolean>;
    for (const action of ACTIONS) actions[action] = await allowed(action);
    const result: PluginHostAccess = { actions, plugins: {}, capabilities: {} };
    if (!this.options.authorize) return result;
    for (const { slug } of this.host.list()) {
      for (const action of PLUGIN_ACTIONS) {
        const answer = await allowed(action, slug);
        if (answer !== actions[action]) (result.plugins[slug] ??= {})[action] = answer;
      }
    }
    for (const { slug } of this.host.capabilities()) {
      const answer = await allowed('run', slug);
      if (answer !== actions.run) result.capabilities[slug] = answer;
    }
    return result;
  }

  /**
   * Every plugin change, local or from another instance, as an event named `change` whose data is
   * the `PluginChangeEvent` (secrets masked); a comment every 15 s in between.
   */
  @Sse('events')
  @Action('read')
  events(@Req() request: HttpRequest): Observable<MessageEvent> {
    if (this.closed) return EMPTY;
    if (request.res) {
      const done = finished(request.res).catch(() => undefined);
      this.streams.add(done);
      void done.then(() => this.streams.delete(done));
    }
    const changes = new Observable<MessageEvent>((subscriber) => {
      subscriber.next({ retry: RETRY_MS, comment: 'plugin-host changes' });
      const unsubscribe = this.host.subscribe((event) =>
        subscriber.next({ type: 'change', data: event }),
      );
      return () => void unsubscribe();
    });
    const heartbeats = interval(HEARTBEAT_MS).pipe(map(() => ({ comment: 'heartbeat' })));
    return merge(changes, heartbeats).pipe(takeUntil(this.closing));
  }

  @Get('ui')
  @Action('read')
  page(@Req() request: HttpRequest, @Res() response: unknown): void {
    const [path, query] = splitUrl(request);
    // `ui/` would resolve the page's relative links one level too deep.
    if (path.endsWith('/') && this.options.ui) {
      this.adapterHost.httpAdapter.redirect(response, 308, `../ui${query}`);
      return;
    }
    this.send('index.html', request, response);
  }

  @Get('ui/:file')
  @Action('read')
  file(@Param('file') file: string, @Req() request: HttpRequest, @Res() response: unknown): void {
    this.send(file === 'index.html' ? '' : file, request, response);
  }

  /**
   * Ends every open event stream and waits (up to a second) until their responses are done, so the
   * HTTP server finds their connections idle and closes at once.
   */
  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.closing.next();
    this.closing.complete();
    if (this.streams.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.streams),
      new Promise((resolve) => (timer = setTimeout(resolve, 1_000))),
    ]);
    clearTimeout(timer);
  }

  private send(name: string, request: HttpRequest, response: unknown): void {
    const asset = this.options.ui ? uiAsset(name) : undefined;
    if (!asset) {
      throw new HttpException(
        { code: 'NOT_FOUND', message: `No route ${request.method ?? ''} ${splitUrl(request)[0]}.` },
        404,
      );
    }
    const adapter = this.adapterHost.httpAdapter;
    const headers: Record<string, string> = {
      'Content-Type': asset.type,
      'Cache-Control': 'no-cache',
      ETag: asset.etag,
      'X-Content-Type-Options': 'nosniff',
      ...(name === 'index.html' ? PAGE_HEADERS : {}),
    };
    for (const [header, value] of Object.entries(headers))
      adapter.setHeader(response, header, value);
    const fresh = request.headers['if-none-match'] === asset.etag;
    adapter.reply(response, fresh ? '' : asset.body, fresh ? 304 : 200);
  }
}

function splitUrl(request: HttpRequest): [path: string, query: string] {
  const url = request.originalUrl ?? request.url ?? '';
  const at = url.indexOf('?');
  return at === -1 ? [url, ''] : [url.slice(0, at), url.slice(at)];
}

/** The admin page's controller mounted at `path` (the same as the REST API's). */
export function mountedUiController(path: string): Type {
  describeOpenApi();
  @Controller(path.replace(/^\/+|\/+$/g, ''))
  class MountedPluginHostUiController extends PluginHostUiController {}
  return MountedPluginHostUiController;
}

let described = false;

/** Describes `/access` and `/events` for `@nestjs/swagger` when installed; the page's files are left out. */
function describeOpenApi(): void {
  if (described) return;
  let s: Record<string, (...args: any[]) => (...target: any[]) => void>;
  try {
    s = createRequire(import.meta.url)('@nestjs/swagger');
  } catch {
    return;
  }
  described = true;
  const proto = PluginHostUiController.prototype as unknown as Record<string, object>;
  const decorate = (method: string, ...decorators: Array<(...target: any[]) => void>) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method)!;
    for (const decorator of decorators) decorator(proto, method, descriptor);
  };
  const flags = { type: 'object', additionalProperties: { type: 'boolean' } };
  const forbidden = s.ApiResponse({ status: 403, description: 'FORBIDDEN', type: ErrorResponse });
  s.ApiTags('plugin-host')(PluginHostUiController);
  decorate(
    'rights',
    s.ApiOperation({ summary: 'What the caller may do: every action, and per-slug exceptions' }),
    s.ApiResponse({
      status: 200,
      description: 'Success',
      schema: {
        type: 'object',
        properties: {
          actions: { ...flags, example: { read: true, toggle: false } },
          plugins: {
            type: 'object',
            additionalProperties: flags,
            example: { billing: { remove: false } },
          },
          capabilities: flags,
        },
      },
    }),
    forbidden,
  );
  decorate(
    'events',
    s.ApiOperation({
      summary: 'Server-sent events: every plugin change as a `change` event, a comment every 15 s',
    }),
    s.ApiProduces('text/event-stream'),
    s.ApiResponse({
      status: 200,
      description: 'An endless text/event-stream',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    }),
    forbidden,
  );
  s.ApiExcludeEndpoint()(proto, 'page', Object.getOwnPropertyDescriptor(proto, 'page')!);
  s.ApiExcludeEndpoint()(proto, 'file', Object.getOwnPropertyDescriptor(proto, 'file')!);
}
