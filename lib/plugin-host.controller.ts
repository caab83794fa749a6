import {
  Body,
  Inject,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpException,
  Logger,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  Res,
  SetMetadata,
  UseFilters,
  UseGuards,
  UseInterceptors,
  ValidationPipe,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { validationDetails } from './config-schema.util.js';
import {
  ReorderPluginsDto,
  RegisterPluginDto,
  TogglePluginDto,
  UpdatePluginDto,
} from './dto/plugin.dto.js';
import type { JsonObject, Plugin } from './entities/plugin.entity.js';
import type { CapabilityInfo } from './interfaces/capability.interface.js';
import type { NavItem } from './interfaces/hosted-plugin.interface.js';
import type {
  PluginHostAction,
  ResolvedPluginHostOptions,
} from './interfaces/plugin-host-options.interface.js';
import type { PluginAuditPage } from './interfaces/plugin-store.interface.js';
import type { PluginAuditAction } from './entities/plugin-audit-entry.entity.js';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import type {
  StoredWorkflow,
  WorkflowRun,
  WorkflowRunPage,
  WorkflowRunStatus,
} from './workflow/workflow.interface.js';
import { PluginHostAccessGuard } from './plugin-host-access.guard.js';
import { PluginHostBodyPipe } from './plugin-host-body.pipe.js';
import { PluginHostETagInterceptor } from './plugin-host-etag.interceptor.js';
import {
  PLUGIN_HOST_ACTION_METADATA,
  PLUGIN_HOST_JSON_API_METADATA,
} from './plugin-host.constants.js';
import {
  CapabilityFailedError,
  PluginHostError,
  PluginValidationError,
} from './plugin-host.errors.js';
import { navETag, PluginHostExceptionFilter } from './plugin-host-exception.filter.js';
import { MESSAGES } from './plugin-host.messages.js';
import { PluginHostService } from './plugin-host.service.js';
import { assertCapabilitySlug, assertPluginSlug } from './slug.util.js';
import { describeThrown } from './thrown.util.js';

/** Marks the action a route performs, for the access guard and `authorize`. */
const Action = (action: PluginHostAction) => SetMetadata(PLUGIN_HOST_ACTION_METADATA, action);

/** On routes that answer with one plugin: its version as the `ETag`. */
const WithETag = () => UseInterceptors(PluginHostETagInterceptor);

const dto = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  stopAtFirstError: true,
  exceptionFactory: (errors) => {
    const messages = errors.flatMap((e) =>
      Object.values(e.constraints ?? { invalid: `${e.property} is invalid` }),
    );
    const details = errors.flatMap((e) => {
      const found = validationDetails([e], 'body');
      return found.length > 0
        ? found
        : [{ path: `body.${e.property}`, message: `${e.property} is invalid` }];
    });
    return new PluginValidationError(messages.join('; '), messages, details);
  },
});

/** `GET /dashboard`. */
export interface PluginHostDashboard {
  plugins: Plugin[];
  nav: NavItem[];
  capabilities: CapabilityInfo[];
  counts: { total: number; enabled: number };
  /** Plugins the kill switch forces off on the instance that answered. */
  forcedDisabled: string[];
}

/**
 * The REST API. Mounted at the module's `path` (default `api/plugin-host`) by {@link PluginHostModule}
 * through a subclass carrying `@Controller(path)`; this class itself has no route prefix.
 */
@UseGuards(PluginHostAccessGuard)
@SetMetadata(PLUGIN_HOST_JSON_API_METADATA, true)
@UseFilters(PluginHostExceptionFilter)
export class PluginHostController {
  private readonly logger = new Logger('PluginHost');

  constructor(
    private readonly host: PluginHostService,
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
    private readonly bodyPipe: PluginHostBodyPipe,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get('plugins')
  @Action('read')
  list(): Plugin[] {
    return this.host.list().map((p) => this.host.redact(p));
  }

  @Get('plugins/:slug')
  @Action('read')
  @WithETag()
  get(@Param('slug') slug: string): Plugin {
    return this.host.redact(this.host.get(slug));
  }

  @Post('plugins')
  @Action('register')
  @WithETag()
  async register(
    @Body(PluginHostBodyPipe, dto) body: RegisterPluginDto,
    @Req() request: unknown,
  ): Promise<Plugin> {
    return this.host.redact(
      await this.host.register({ ...body }, { actor: this.actorOf(request) }),
    );
  }

  @Patch('plugins/:slug')
  @Action('update')
  @WithETag()
  async update(
    @Param('slug') slug: string,
    @Body(PluginHostBodyPipe, dto) body: UpdatePluginDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: unknown,
  ): Promise<Plugin> {
    assertPluginSlug(slug);
    return this.host.redact(
      await this.host.update(slug, { ...body }, this.mutation(ifMatch, request)),
    );
  }

  @Delete('plugins/:slug')
  @Action('remove')
  @HttpCode(204)
  async remove(
    @Param('slug') slug: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: unknown,
  ): Promise<void> {
    assertPluginSlug(slug);
    await this.host.remove(slug, this.mutation(ifMatch, request));
  }

  @Post('plugins/:slug/toggle')
  @Action('toggle')
  @WithETag()
  @HttpCode(200)
  async toggle(
    @Param('slug') slug: string,
    @Body(PluginHostBodyPipe, dto) body: TogglePluginDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: unknown,
  ): Promise<Plugin> {
    assertPluginSlug(slug);
    return this.host.redact(
      await this.host.toggle(slug, body.enabled, this.mutation(ifMatch, request)),
    );
  }

  @Post('plugins/:slug/configure')
  @Action('configure')
  @WithETag()
  @HttpCode(200)
  async configure(
    @Param('slug') slug: string,
    @Body(PluginHostBodyPipe) patch: JsonObject,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: unknown,
  ): Promise<Plugin> {
    assertPluginSlug(slug);
    return this.host.redact(
      await this.host.configure(slug, patch, this.mutation(ifMatch, request)),
    );
  }

  @Put('nav/order')
  @Action('reorder')
  async reorder(
    @Body(PluginHostBodyPipe, dto) body: ReorderPluginsDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() request: unknown,
    @Res({ passthrough: true }) response: unknown,
  ): Promise<Plugin[]> {
    const plugins = await this.host.reorder(body.slugs, {
      actor: this.actorOf(request),
      expectedNavFingerprint: parseNavIfMatch(ifMatch),
    });
    this.adapterHost.httpAdapter.setHeader(response, 'ETag', navETag(this.host.navFingerprint()));
    return plugins.map((p) => this.host.redact(p));
  }

  @Get('nav')
  @Action('read')
  nav(
    @Query('lang') lang: string | undefined,
    @Res({ passthrough: true }) response: unknown,
  ): NavItem[] {
    if (lang !== undefined && lang !== 'en' && lang !== 'ar') {
      throw new PluginValidationError('lang must be "en" or "ar".');
    }
    this.adapterHost.httpAdapter.setHeader(response, 'ETag', navETag(this.host.navFingerprint()));
    return this.host.nav(lang);
  }

  @Get('dashboard')
  @Action('read')
  dashboard(): PluginHostDashboard {
    const plugins = this.host.list().map((p) => this.host.redact(p));
    return {
      plugins,
      nav: this.host.nav(),
      capabilities: this.host.capabilities(),
      counts: {
        total: plugins.length,
        enabled: plugins.filter((p) => this.host.isEnabled(p.slug)).length,
      },
      forcedDisabled: this.host.forcedDisabled(),
    };
  }

  @Get('capabilities')
  @Action('read')
  capabilities(): CapabilityInfo[] {
    return this.host.capabilities();
  }

  @Get('audit')
  @Action('audit')
  audit(
    @Query('slug') slug?: string,
    @Query('action') action?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ): Promise<PluginAuditPage> {
    return this.host.audit({
      slug,
      action: action as PluginAuditAction | undefined,
      limit: limit === undefined ? undefined : strictInteger(limit, 'limit'),
      before: cursor === undefined ? undefined : strictInteger(cursor, 'cursor'),
    });
  }

  @Get('workflows')
  @Action('read')
  workflows(): StoredWorkflow[] {
    return this.host.workflows.list();
  }

  @Get('workflows/runs')
  @Action('workflow.read')
  workflowRuns(
    @Query('workflow') workflow?: string,
    @Query('status') status?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ): Promise<WorkflowRunPage> {
    return this.host.workflows.runs({
      workflow,
      status: status as WorkflowRunStatus | undefined,
      limit: limit === undefined ? undefined : strictInteger(limit, 'limit'),
      cursor,
    });
  }

  @Get('workflows/runs/:id')
  @Action('workflow.read')
  workflowRun(@Param('id') id: string): Promise<WorkflowRun> {
    return this.host.workflows.run(id);
  }

  @Get('workflows/:name')
  @Action('read')
  workflow(@Param('name') name: string): StoredWorkflow {
    assertPluginSlug(name);
    return this.host.workflows.get(name);
  }

  @Put('workflows/:name')
  @Action('workflow.define')
  defineWorkflow(
    @Param('name') name: string,
    @Body(PluginHostBodyPipe) body: Record<string, unknown>,
    @Req() request: unknown,
  ): Promise<StoredWorkflow> {
    assertPluginSlug(name);
    if (body.name !== undefined && body.name !== name) {
      throw new PluginValidationError("The body's name must match the name in the path.");
    }
    return this.host.workflows.put({ ...body, name }, this.actorOf(request));
  }

  @Delete('workflows/:name')
  @Action('workflow.remove')
  @HttpCode(204)
  async removeWorkflow(@Param('name') name: string, @Req() request: unknown): Promise<void> {
    assertPluginSlug(name);
    await this.host.workflows.remove(name, this.actorOf(request));
  }

  @Post('workflows/:name/run')
  @Action('workflow.run')
  @HttpCode(200)
  async runWorkflow(
    @Param('name') name: string,
    @Body(PluginHostBodyPipe) input: Record<string, unknown>,
    @Query('wait') wait: string | undefined,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: unknown,
    @Res({ passthrough: true }) response: unknown,
  ): Promise<WorkflowRun> {
    assertPluginSlug(name);
    if (wait !== undefined && wait !== 'true' && wait !== 'false') {
      throw new PluginValidationError('wait must be "true" or "false".');
    }
    const run = await this.host.workflows.trigger(name, input, {
      wait: wait !== 'false',
      idempotencyKey,
      actor: this.actorOf(request),
    });
    if (wait === 'false') this.adapterHost.httpAdapter.status(response, 202);
    return run;
  }

  @Post('capabilities/:slug/run')
  @Action('run')
  @HttpCode(200)
  async run(
    @Param('slug') slug: string,
    @Body() body: unknown,
    @Req() request: unknown,
  ): Promise<{ output: unknown }> {
    // A registered slug was checked when it was registered.
    if (!this.host.hasCapability(slug)) assertCapabilitySlug(slug);
    // The body pipe's rules, applied here rather than through Nest's (async) pipe machinery: this is
    // the route every capability call over HTTP takes.
    const input = this.bodyPipe.transform(body);
    try {
      const output = await this.host.runCapability(slug, input, {
        request,
        actor: this.actorOf(request),
        timeoutMs: this.host.timeoutOf(slug),
      });
      return { output: output === undefined ? null : output };
    } catch (error) {
      if (error instanceof PluginHostError || error instanceof HttpException) throw error;
      const correlationId = randomUUID();
      this.logger.error(
        `Capability "${slug}" failed [${correlationId}]: ${describeThrown(error, { stack: true })}`,
      );
      throw new CapabilityFailedError(slug, correlationId, error);
    }
  }

  private mutation(ifMatch: string | undefined, request: unknown) {
    return { expectedVersion: parseIfMatch(ifMatch), actor: this.actorOf(request) };
  }

  private actorOf(request: unknown): string {
    const custom = this.options.actor?.(request);
    if (typeof custom === 'string' && custom.length > 0) return custom;
    const user = (request as { user?: { id?: unknown; username?: unknown; sub?: unknown } })?.user;
    const id = user?.username ?? user?.id ?? user?.sub;
    return id === undefined || id === null ? 'anonymous' : String(id);
  }
}

function strictInteger(value: string, name: string): number {
  if (!/^\d{1,15}$/.test(value))
    throw new PluginValidationError(`${name} must be a positive integer.`);
  return Number(value);
}

/** `If-Match: "3"` (or `W/"3"`, or `3`) to a version; `*` means any. */
function parseIfMatch(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '*') return undefined;
  // `W/` is taken too: a proxy that compresses answers (nginx's gzip) weakens the ETags it passes.
  const match = /^\s*(?:W\/)?("?)(\d{1,15})\1\s*$/.exec(value);
  if (!match) throw new PluginValidationError('If-Match must be a plugin version, e.g. "3".');
  return Number(match[2]);
}

/**
 * `If-Match: W/"<fingerprint>"` (or `"<fingerprint>"`, or the bare fingerprint) of the navigation to
 * the fingerprint; `*` means any.
 */
function parseNavIfMatch(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?("?)([A-Za-z0-9_-]{1,64})\1\s*$/.exec(value);
  if (!match) throw new PluginValidationError(MESSAGES.badNavIfMatch);
  return match[2];
}
