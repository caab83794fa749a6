import { createRequire } from 'node:module';
import {
  ReorderPluginsDto,
  RegisterPluginDto,
  TogglePluginDto,
  UpdatePluginDto,
} from './dto/plugin.dto.js';
import {
  AuditEntryResponse,
  AuditPageResponse,
  CapabilityResponse,
  DashboardCounts,
  DashboardResponse,
  ErrorDetailResponse,
  ErrorResponse,
  NavItemResponse,
  PluginResponse,
  RunResponse,
  WorkflowResponse,
  WorkflowRunPageResponse,
  WorkflowRunResponse,
} from './dto/responses.dto.js';
import { PluginHostController } from './plugin-host.controller.js';

type Decorator = (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => void;
type Swagger = Record<string, (...args: any[]) => Decorator>;

let described = false;

/**
 * Describes the REST API for `@nestjs/swagger` when the app has it installed (it is an optional peer:
 * without it this does nothing). Runs when the module is defined, so a document built right after
 * `NestFactory.create()` already sees every route, body, response and error code.
 */
export function describeOpenApi(): void {
  if (described) return;
  let swagger: Swagger;
  try {
    swagger = createRequire(import.meta.url)('@nestjs/swagger') as Swagger;
  } catch {
    return;
  }
  described = true;
  describeModels(swagger);
  describeRoutes(swagger);
}

function describeModels(s: Swagger): void {
  const props = (target: { prototype: object }, shape: Record<string, object>) => {
    for (const [key, options] of Object.entries(shape))
      s.ApiProperty(options)(target.prototype, key);
  };
  const slug = { type: String, pattern: '^[a-z0-9][a-z0-9-]{0,62}$', example: 'newsletter' };
  const label = { type: String, nullable: true, maxLength: 255, required: false };
  const object = { type: 'object', additionalProperties: true };
  props(PluginResponse, {
    slug,
    kind: { type: String, example: 'capability' },
    enabled: { type: Boolean },
    config: { ...object, description: 'Secret fields show as "********".' },
    nav: { type: Boolean },
    sort: { type: Number, example: 10 },
    labelEn: { ...label, required: true, example: 'Newsletter' },
    labelAr: { ...label, required: true, example: 'النشرة الإخبارية' },
    version: { type: Number, example: 3, description: 'Send back as If-Match.' },
    createdAt: { type: String, format: 'date-time' },
    updatedAt: { type: String, format: 'date-time' },
  });
  props(NavItemResponse, {
    slug,
    label: { type: String },
    dir: { enum: ['ltr', 'rtl'] },
    sort: { type: Number },
  });
  props(CapabilityResponse, {
    slug: { type: String, example: 'newsletter.send' },
    plugin: slug,
    enabled: { type: Boolean },
    description: { type: String, required: false },
  });
  props(DashboardCounts, { total: { type: Number }, enabled: { type: Number } });
  props(DashboardResponse, {
    plugins: { type: [PluginResponse] },
    nav: { type: [NavItemResponse] },
    capabilities: { type: [CapabilityResponse] },
    counts: { type: DashboardCounts },
    forcedDisabled: { type: [String] },
  });
  props(RunResponse, {
    output: {
      // Any JSON. @nestjs/swagger needs a type to build a property, and keeps a combinator alone
      // (no `type`) only for Array: the schema becomes `{ oneOf: [...] }` (null: the object branch).
      type: Array,
      oneOf: [
        { type: 'object', additionalProperties: true, nullable: true },
        { type: 'array', items: {} },
        { type: 'string' },
        { type: 'number' },
        { type: 'boolean' },
      ],
      description: 'Whatever the capability returned (any JSON; null for nothing).',
    },
  });
  props(AuditEntryResponse, {
    id: { type: Number },
    at: { type: String, format: 'date-time' },
    actor: { type: String },
    action: { enum: ['register', 'update', 'toggle', 'configure', 'reorder', 'remove'] },
    slug: { type: String },
    before: { ...object, nullable: true },
    after: { ...object, nullable: true },
    instance: { type: String },
  });
  props(AuditPageResponse, {
    items: { type: [AuditEntryResponse] },
    nextCursor: { type: String, nullable: true },
  });
  const steps = { type: 'array', items: { type: 'object', additionalProperties: true } };
  props(WorkflowResponse, {
    name: { ...slug, example: 'onboarding' },
    description: { type: String, required: false },
    steps,
    source: { enum: ['code', 'runtime'] },
    version: { type: Number },
    updatedAt: { type: String, format: 'date-time' },
  });
  props(WorkflowRunResponse, {
    id: { type: String, format: 'uuid' },
    workflow: { type: String },
    status: { enum: ['pending', 'running', 'succeeded', 'failed', 'compensated'] },
    input: { type: 'object', additionalProperties: true },
    state: object,
    currentStep: { type: Number },
    steps,
    error: { ...object, nullable: true },
    idempotencyKey: { type: String, nullable: true },
    definition: {
      ...object,
      description: 'The definition the run started with (later edits do not change a run).',
    },
    owner: {
      type: String,
      nullable: true,
      description: 'The instance running it (or "queue"); null once finished or handed over.',
    },
    heartbeatAt: { type: String, format: 'date-time', nullable: true },
    version: { type: 'integer', minimum: 1 },
    actor: { type: String },
    createdAt: { type: String, format: 'date-time' },
    updatedAt: { type: String, format: 'date-time' },
    finishedAt: { type: String, format: 'date-time', nullable: true },
  });
  props(WorkflowRunPageResponse, {
    items: { type: [WorkflowRunResponse] },
    nextCursor: { type: String, nullable: true },
  });
  props(ErrorDetailResponse, {
    path: {
      type: String,
      example: 'config.smtp.port',
      description:
        'Where: `config.…` in the config after the change (its schema), `body.…` in the request body.',
    },
    message: { type: String, example: 'port must not be greater than 65535' },
  });
  props(ErrorResponse, {
    statusCode: { type: Number, example: 404 },
    code: { type: String, example: 'PLUGIN_NOT_FOUND' },
    message: { type: String },
    errors: {
      type: [String],
      required: false,
      description: 'VALIDATION_FAILED with several violations: every one.',
    },
    details: {
      type: [ErrorDetailResponse],
      required: false,
      description: 'VALIDATION_FAILED: the violations that have a location, with their paths.',
    },
    slug: {
      ...slug,
      required: false,
      description: 'VERSION_CONFLICT on one plugin: its slug.',
    },
    currentVersion: {
      type: Number,
      required: false,
      example: 4,
      description: 'VERSION_CONFLICT on one plugin: the version it is at now (also the ETag).',
    },
    correlationId: { type: String, required: false },
  });
  props(UpdatePluginDto, {
    kind: { ...slug, required: false, example: 'integration' },
    nav: { type: Boolean, required: false },
    sort: { type: 'integer', minimum: -2147483647, maximum: 2147483647, required: false },
    labelEn: { ...label, minLength: 1 },
    labelAr: { ...label, minLength: 1 },
  });
  props(RegisterPluginDto, {
    slug,
    enabled: { type: Boolean, required: false, default: true },
    config: { ...object, required: false },
  });
  props(TogglePluginDto, {
    enabled: { type: Boolean, required: false, description: 'Omit to flip.' },
  });
  props(ReorderPluginsDto, {
    slugs: {
      type: 'array',
      items: { type: 'string', pattern: slug.pattern },
      maxItems: 100_000,
      example: ['mail', 'newsletter'],
    },
  });
}

/** Error codes each route can answer, by status. */
type Errors = Record<number, string[]>;

function describeRoutes(s: Swagger): void {
  const proto = PluginHostController.prototype as unknown as Record<string, object>;
  s.ApiTags('plugin-host')(PluginHostController);
  s.ApiExtraModels(ErrorResponse, ErrorDetailResponse)(PluginHostController);
  const route = (
    method: string,
    summary: string,
    ok: {
      status: number;
      type?: unknown;
      isArray?: boolean;
      description?: string;
      headers?: object;
    },
    errors: Errors,
    extra: Decorator[] = [],
  ) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method)!;
    const decorators: Decorator[] = [
      s.ApiOperation({ summary }),
      s.ApiResponse({ description: ok.description ?? 'Success', ...ok }),
      ...extra,
    ];
    // Any route: the guard's transport rules apply to every request that carries a body.
    const always: Errors = {
      403: ['FORBIDDEN'],
      413: ['PAYLOAD_TOO_LARGE'],
      415: ['UNSUPPORTED_MEDIA_TYPE'],
    };
    for (const [status, codes] of Object.entries({ ...always, ...errors })) {
      decorators.push(
        s.ApiResponse({
          status: Number(status),
          description: codes.join(', '),
          type: ErrorResponse,
          headers: status === '412' ? conflictETag : undefined,
        }),
      );
    }
    for (const decorate of decorators) decorate(proto, method, descriptor);
  };
  const conflictETag = {
    ETag: {
      description:
        'What is current now, to reload or retry with: the plugin\'s version ("4"), or for /nav/order the navigation\'s fingerprint (W/"…").',
      schema: { type: 'string' },
    },
  };
  const navETag = {
    ETag: {
      description:
        'W/"<fingerprint>" of the navigation order (slugs, sorts and versions of the plugins with nav on); send it back as If-Match on PUT /nav/order.',
      schema: { type: 'string', example: 'W/"kQ3h0Vx1c2Zk9aBd"' },
    },
  };
  const slugParam = s.ApiParam({ name: 'slug', description: 'Plugin slug', example: 'newsletter' });
  const ifMatch = s.ApiHeader({
    name: 'If-Match',
    required: false,
    description: 'The version you last saw ("3"); a stale one answers 412 and writes nothing.',
  });
  const invalid = ['VALIDATION_FAILED'];
  /** `limit` and `cursor` of a paged list (the audit log, the workflow runs). */
  const paging = (cursor: object) => [
    s.ApiQuery({
      name: 'limit',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    }),
    s.ApiQuery({
      name: 'cursor',
      required: false,
      description: 'nextCursor of the previous page',
      schema: cursor,
    }),
  ];
  const pluginETag = {
    ETag: {
      description: 'The plugin\'s version ("3"); send it back as If-Match.',
      schema: { type: 'string', example: '"3"' },
    },
  };
  const write = {
    400: invalid,
    404: ['PLUGIN_NOT_FOUND'],
    409: ['WRITE_CONFLICT'],
    412: ['VERSION_CONFLICT'],
    503: ['STORE_UNAVAILABLE'],
  };
  route(
    'list',
    'List every plugin, by sort then slug',
    { status: 200, type: PluginResponse, isArray: true },
    {},
  );
  route(
    'get',
    'One plugin (ETag: its version)',
    { status: 200, type: PluginResponse, headers: pluginETag },
    { 400: invalid, 404: ['PLUGIN_NOT_FOUND'] },
    [slugParam],
  );
  route(
    'register',
    'Host a new plugin record',
    { status: 201, type: PluginResponse, headers: pluginETag },
    {
      400: invalid,
      409: ['PLUGIN_EXISTS'],
      503: ['STORE_UNAVAILABLE'],
      507: ['STORE_FULL'],
    },
    [s.ApiBody({ type: RegisterPluginDto })],
  );
  route(
    'update',
    'Change kind, nav, sort or labels',
    { status: 200, type: PluginResponse, headers: pluginETag },
    write,
    [slugParam, ifMatch, s.ApiBody({ type: UpdatePluginDto })],
  );
  route(
    'remove',
    'Remove a plugin record',
    { status: 204, description: 'Removed' },
    { ...write, 409: ['PLUGIN_IN_USE', 'WRITE_CONFLICT'] },
    [slugParam, ifMatch],
  );
  route(
    'toggle',
    'Enable, disable, or flip when enabled is omitted',
    { status: 200, type: PluginResponse, headers: pluginETag },
    write,
    [slugParam, ifMatch, s.ApiBody({ type: TogglePluginDto, required: false })],
  );
  route(
    'configure',
    'Apply a JSON Merge Patch (RFC 7396) to the config',
    { status: 200, type: PluginResponse, headers: pluginETag },
    write,
    [
      slugParam,
      ifMatch,
      s.ApiBody({
        schema: {
          type: 'object',
          additionalProperties: true,
          example: { from: 'news@example.com', smtp: { port: 587 }, legacy: null },
        },
      }),
    ],
  );
  route(
    'reorder',
    'Rewrite sort so the navigation follows this order',
    { status: 200, type: PluginResponse, isArray: true, headers: navETag },
    {
      400: invalid,
      404: ['PLUGIN_NOT_FOUND'],
      409: ['WRITE_CONFLICT'],
      412: ['VERSION_CONFLICT'],
      503: ['STORE_UNAVAILABLE'],
    },
    [
      s.ApiHeader({
        name: 'If-Match',
        required: false,
        description:
          'The ETag of GET /nav you last saw (W/"…"); if the navigation changed since, 412 and nothing is written.',
      }),
      s.ApiBody({ type: ReorderPluginsDto }),
    ],
  );
  route(
    'nav',
    'Navigation entries of enabled, nav-visible plugins',
    { status: 200, type: NavItemResponse, isArray: true, headers: navETag },
    { 400: invalid },
    [s.ApiQuery({ name: 'lang', required: false, enum: ['en', 'ar'] })],
  );
  route(
    'dashboard',
    'Plugins, navigation, capabilities and counts',
    { status: 200, type: DashboardResponse },
    {},
  );
  route(
    'capabilities',
    'Every capability with its owner and state',
    { status: 200, type: CapabilityResponse, isArray: true },
    {},
  );
  route(
    'audit',
    'The audit log, newest first',
    { status: 200, type: AuditPageResponse },
    { 400: invalid, 501: ['AUDIT_UNAVAILABLE'], 503: ['STORE_UNAVAILABLE'] },
    [
      s.ApiQuery({ name: 'slug', required: false }),
      s.ApiQuery({
        name: 'action',
        required: false,
        enum: ['register', 'update', 'toggle', 'configure', 'reorder', 'remove'],
      }),
      ...paging({ type: 'string', pattern: '^[1-9][0-9]*$' }),
    ],
  );
  const name = s.ApiParam({ name: 'name', description: 'Workflow name', example: 'onboarding' });
  const runStatuses = ['pending', 'running', 'succeeded', 'failed', 'compensated'];
  const steps = { type: 'array', items: { type: 'object', additionalProperties: true } };
  route(
    'workflows',
    'Every workflow definition, code and runtime',
    { status: 200, type: WorkflowResponse, isArray: true },
    {},
  );
  route(
    'workflowRuns',
    'Workflow runs, newest first',
    { status: 200, type: WorkflowRunPageResponse },
    { 400: invalid, 503: ['STORE_UNAVAILABLE'] },
    [
      s.ApiQuery({ name: 'workflow', required: false }),
      s.ApiQuery({ name: 'status', required: false, enum: runStatuses }),
      ...paging({ type: 'string' }),
    ],
  );
  route(
    'workflowRun',
    'One workflow run with per-step records',
    { status: 200, type: WorkflowRunResponse },
    { 404: ['WORKFLOW_RUN_NOT_FOUND'], 503: ['STORE_UNAVAILABLE'] },
    [s.ApiParam({ name: 'id' })],
  );
  route(
    'workflow',
    'One workflow definition',
    { status: 200, type: WorkflowResponse },
    { 400: invalid, 404: ['WORKFLOW_NOT_FOUND'] },
    [name],
  );
  route(
    'defineWorkflow',
    'Create or replace a runtime workflow',
    { status: 200, type: WorkflowResponse },
    {
      400: invalid,
      409: ['WORKFLOW_DEFINED_IN_CODE'],
      503: ['STORE_UNAVAILABLE'],
    },
    [
      name,
      s.ApiBody({
        schema: {
          type: 'object',
          required: ['steps'],
          properties: { description: { type: 'string' }, steps },
        },
      }),
    ],
  );
  route(
    'removeWorkflow',
    'Remove a runtime workflow',
    { status: 204, description: 'Removed' },
    {
      400: invalid,
      404: ['WORKFLOW_NOT_FOUND'],
      409: ['WORKFLOW_DEFINED_IN_CODE'],
      503: ['STORE_UNAVAILABLE'],
    },
    [name],
  );
  route(
    'runWorkflow',
    'Start a run (waits for it unless ?wait=false, which answers 202)',
    { status: 200, type: WorkflowRunResponse },
    {
      400: invalid,
      404: ['WORKFLOW_NOT_FOUND'],
      422: ['IDEMPOTENCY_KEY_REUSED'],
      503: ['STORE_UNAVAILABLE'],
    },
    [
      name,
      s.ApiQuery({ name: 'wait', required: false, enum: ['true', 'false'] }),
      s.ApiHeader({
        name: 'Idempotency-Key',
        required: false,
        description:
          'A repeated key returns the run it started (matched exactly, 1 to 255 characters); the key with another workflow or input answers 422 IDEMPOTENCY_KEY_REUSED.',
      }),
      s.ApiBody({
        schema: {
          type: 'object',
          additionalProperties: true,
          example: { email: 'ada@example.com' },
        },
      }),
      s.ApiResponse({
        status: 202,
        description: 'Started (with ?wait=false)',
        type: WorkflowRunResponse,
      }),
    ],
  );
  route(
    'run',
    'Run a capability with the body as input',
    { status: 200, type: RunResponse },
    {
      400: invalid,
      404: ['CAPABILITY_NOT_FOUND'],
      409: ['PLUGIN_DISABLED'],
      500: ['CAPABILITY_FAILED', 'INTERNAL_ERROR'],
      504: ['CAPABILITY_TIMEOUT'],
      508: ['CAPABILITY_LOOP'],
    },
    [
      s.ApiParam({ name: 'slug', description: 'Capability slug', example: 'newsletter.send' }),
      s.ApiBody({
        schema: { type: 'object', additionalProperties: true, example: { subject: 'Hello' } },
      }),
    ],
  );
}
