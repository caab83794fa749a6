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
import { PLUGIN_HOST_ACTION_METADATA } from './plugin-host.constants.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import type {
  PluginHostAction,
  ResolvedPluginHostOptions,
} from './interfaces/plugin-host-options.interface.js';
import { MESSAGES } from './plugin-host.messages.js';

/**
 * The single guard on the REST API. It runs the configured `guards` (all must pass), or without any
 * applies the default policy (reads open, everything else 403 unless `allowAnonymous`), then asks
 * `authorize` about the route's action and slug.
 */
@Injectable()
export class PluginHostAccessGuard implements CanActivate, OnModuleInit {
  private guards: CanActivate[] = [];

  constructor(
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    this.guards = await Promise.all(this.options.guards.map((guard) => this.instantiate(guard)));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const action =
      this.reflector.get<PluginHostAction | undefined>(
        PLUGIN_HOST_ACTION_METADATA,
        context.getHandler(),
      ) ?? 'read';
    if (this.guards.length > 0) {
      for (const guard of this.guards) {
        const verdict = guard.canActivate(context);
        const allowed = isObservable(verdict) ? await lastValueFrom(verdict) : await verdict;
        if (!allowed) throw new ForbiddenException('Forbidden resource');
      }
    } else if (action !== 'read' && !this.options.allowAnonymous) {
      throw new ForbiddenException(MESSAGES.forbiddenAnonymous);
    }
    if (this.options.authorize) {
      const request = context.switchToHttp().getRequest<{ params?: Record<string, string> }>();
      const slug = request.params?.slug;
      if (!(await this.options.authorize({ action, slug, request }))) {
        throw new ForbiddenException(MESSAGES.forbiddenAction(action, slug));
      }
    }
    return true;
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
