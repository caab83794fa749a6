import {
  ForbiddenException,
  Inject,
  Injectable,
  type CanActivate,
  type ExecutionContext,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import {
  PLUGIN_HOST_ACTION_METADATA,
  PLUGIN_HOST_JSON_API_METADATA,
} from './plugin-host.constants.js';
import { acceptJsonTransport, type HttpRequest } from './http-body.util.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import type {
  PluginHostAction,
  ResolvedPluginHostOptions,
} from './interfaces/plugin-host-options.interface.js';
import { MESSAGES } from './plugin-host.messages.js';

interface GuardedRoute {
  action: PluginHostAction;
  /** A route of the JSON API (the REST controller), where the transport rules apply. */
  jsonApi: boolean;
}

/**
 * The single guard on the REST API. It runs the configured `guards` (all must pass), or without any
 * applies the default policy (reads open, everything else 403 unless `allowAnonymous`), then asks
 * `authorize` about the route's action and slug; on the JSON API's routes it then applies the
 * transport rules ({@link acceptJsonTransport}). One guard, synchronous when nothing needs waiting
 * for: each guard and each await is a measurable share of the run route's cost.
 */
@Injectable()
export class PluginHostAccessGuard implements CanActivate, OnModuleInit {
  private guards: CanActivate[] = [];
  private readonly routes = new WeakMap<object, GuardedRoute>();

  constructor(
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    this.guards = await Promise.all(this.options.guards.map((guard) => this.instantiate(guard)));
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const route = this.routeOf(context);
    if (this.guards.length > 0) return this.throughGuards(context, route);
    if (route.action !== 'read' && !this.options.allowAnonymous) {
      throw new ForbiddenException(MESSAGES.forbiddenAnonymous);
    }
    return this.afterAccess(context, route);
  }

  /**
   * `authorize`, then the JSON API's transport rules (413, 415, `+json` bodies). Synchronous when
   * there is nothing to wait for: the run route pays for every await.
   */
  private afterAccess(context: ExecutionContext, route: GuardedRoute): boolean | Promise<boolean> {
    if (this.options.authorize) return this.authorized(context, route);
    return this.transport(context, route);
  }

  /** What the guard needs to know about a route, read once from its metadata. */
  private routeOf(context: ExecutionContext): GuardedRoute {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (route === undefined) {
      route = {
        action:
          this.reflector.get<PluginHostAction | undefined>(PLUGIN_HOST_ACTION_METADATA, handler) ??
          'read',
        jsonApi:
          this.reflector.get<boolean | undefined>(
            PLUGIN_HOST_JSON_API_METADATA,
            context.getClass(),
          ) === true,
      };
      this.routes.set(handler, route);
    }
    return route;
  }

  private async throughGuards(context: ExecutionContext, route: GuardedRoute): Promise<boolean> {
    for (const guard of this.guards) {
      const verdict = guard.canActivate(context);
      const allowed = isObservable(verdict) ? await lastValueFrom(verdict) : await verdict;
      if (!allowed) throw new ForbiddenException('Forbidden resource');
    }
    return this.afterAccess(context, route);
  }

  private async authorized(context: ExecutionContext, route: GuardedRoute): Promise<boolean> {
    const { action } = route;
    const request = context.switchToHttp().getRequest<{ params?: Record<string, string> }>();
    const slug = request.params?.slug;
    if (!(await this.options.authorize!({ action, slug, request }))) {
      throw new ForbiddenException(MESSAGES.forbiddenAction(action, slug));
    }
    return this.transport(context, route);
  }

  /** The transport rules, on the JSON API's routes only. */
  private transport(context: ExecutionContext, route: GuardedRoute): true | Promise<true> {
    if (!route.jsonApi) return true;
    // The request is the HTTP context's first argument; `switchToHttp()` builds three closures on
    // every call to hand it over.
    return acceptJsonTransport(context.getArgByIndex<HttpRequest>(0), this.options.maxBodyBytes);
  }

  /**
   * Whether a request that got through this guard may also perform `action` (on `slug`): with no
   * `guards`, only reads unless `allowAnonymous`; with guards, they are taken to let it through
   * every route as they did this one; then `authorize`, where a throw counts as a refusal. What
   * `GET /access` reports.
   */
  async permits(
    action: PluginHostAction,
    slug: string | undefined,
    request: unknown,
  ): Promise<boolean> {
    if (this.guards.length === 0 && action !== 'read' && !this.options.allowAnonymous) return false;
    if (!this.options.authorize) return true;
    try {
      return Boolean(await this.options.authorize({ action, slug, request }));
    } catch {
      return false;
    }
  }

  private async instantiate(guard: Type<CanActivate> | CanActivate): Promise<CanActivate> {
    if (typeof guard !== 'function') return guard;
    try {
      return this.moduleRef.get(guard, { strict: false });
    } catch {
      return this.moduleRef.create(guard);
    }
  }
}
