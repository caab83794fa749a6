/*
 * Response shapes of the REST API, as classes so OpenAPI can name them. They carry no decorators:
 * `plugin-host.openapi.ts` describes them for @nestjs/swagger when that optional package is present.
 */

/** A plugin as the REST API returns it (secrets masked). */
export class PluginResponse {
  slug!: string;
  kind!: string;
  enabled!: boolean;
  config!: Record<string, unknown>;
  nav!: boolean;
  sort!: number;
  labelEn!: string | null;
  labelAr!: string | null;
  version!: number;
  createdAt!: string;
  updatedAt!: string;
}

/** One navigation entry. */
export class NavItemResponse {
  slug!: string;
  label!: string;
  dir!: 'ltr' | 'rtl';
  sort!: number;
}

/** One capability with its owner and state. */
export class CapabilityResponse {
  slug!: string;
  plugin!: string;
  enabled!: boolean;
  description?: string;
}

/** Counts shown on the dashboard. */
export class DashboardCounts {
  total!: number;
  enabled!: number;
}

/** `GET /dashboard`. */
export class DashboardResponse {
  plugins!: PluginResponse[];
  nav!: NavItemResponse[];
  capabilities!: CapabilityResponse[];
  counts!: DashboardCounts;
  forcedDisabled!: string[];
}

/** `POST /capabilities/:slug/run`. */
export class RunResponse {
  output!: unknown;
}

/** One audit log entry. */
export class AuditEntryResponse {
  id!: number;
  at!: string;
  actor!: string;
  action!: string;
  slug!: string;
  before!: Record<string, unknown> | null;
  after!: Record<string, unknown> | null;
  instance!: string;
}

/** `GET /audit`. */
export class AuditPageResponse {
  items!: AuditEntryResponse[];
  nextCursor!: string | null;
}

/** One located violation in a `VALIDATION_FAILED` body. */
export class ErrorDetailResponse {
  path!: string;
  message!: string;
}

/** Every error body. */
export class ErrorResponse {
  statusCode!: number;
  code!: string;
  message!: string;
  errors?: string[];
  details?: ErrorDetailResponse[];
  slug?: string;
  currentVersion?: number;
  correlationId?: string;
}

/** A workflow definition as the API returns it. */
export class WorkflowResponse {
  name!: string;
  description?: string;
  steps!: Record<string, unknown>[];
  source!: 'code' | 'runtime';
  version!: number;
  updatedAt!: string;
}

/** One workflow run. */
export class WorkflowRunResponse {
  id!: string;
  workflow!: string;
  status!: string;
  input!: unknown;
  state!: Record<string, unknown>;
  currentStep!: number;
  steps!: Record<string, unknown>[];
  error!: Record<string, unknown> | null;
  idempotencyKey!: string | null;
  actor!: string;
  createdAt!: string;
  updatedAt!: string;
  finishedAt!: string | null;
}

/** `GET /workflows/runs`. */
export class WorkflowRunPageResponse {
  items!: WorkflowRunResponse[];
  nextCursor!: string | null;
}
