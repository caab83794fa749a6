import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import {
  CapabilityFailedError,
  PluginHostError,
  PluginNavOrderConflictError,
  PluginValidationError,
  PluginVersionConflictError,
  type PluginValidationDetail,
} from './plugin-host.errors.js';
import { describeThrown } from './thrown.util.js';

/** The JSON body of every error the REST API answers. */
export interface PluginHostErrorBody {
  statusCode: number;
  /** Stable code, e.g. `PLUGIN_NOT_FOUND`. */
  code: string;
  message: string;
  /** Every violation, for `VALIDATION_FAILED` with more than one. */
  errors?: string[];
  /**
   * For `VALIDATION_FAILED`: the violations that have a location, each `{ path, message }`
   * (`config.smtp.port`, `body.labelEn`, `body.a.__proto__`). Absent when none has one.
   */
  details?: PluginValidationDetail[];
  /** For `VERSION_CONFLICT` on one plugin: its slug. */
  slug?: string;
  /** For `VERSION_CONFLICT` on one plugin: the version it is at now (also sent as `ETag`). */
  currentVersion?: number;
  /** Matches the server log line, for 500s. */
  correlationId?: string;
}

/** The weak `ETag` of the navigation order: `W/"<fingerprint>"`. */
export function navETag(fingerprint: string): string {
  return `W/"${fingerprint}"`;
}

/**
 * Codes for errors that are not the module's own (an HttpException a capability or guard threw, a
 * transport error): generic names, so a capability's 503 never reads as STORE_UNAVAILABLE.
 */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

/**
 * Messages of the errors the HTTP transport raises before any handler runs (body parsing, media type),
 * the same whichever adapter and whichever layer (parser, fallback, guard) detects them.
 */
export const TRANSPORT_MESSAGES = {
  notJson: 'The request body is not valid JSON.',
  notObject: 'The request body must be a JSON object.',
  tooLarge: 'The request body is larger than this server accepts.',
  notJsonType: 'Send request bodies as application/json.',
  browserPost:
    'A POST from another site must declare Content-Type: application/json, even without a body.',
  cutShort: 'The request body was cut short.',
} as const;

/**
 * Turns every error on the module's routes into `{ statusCode, code, message }` JSON. Unknown errors
 * become a 500 with a correlation id and no internal detail; the detail goes to the log.
 */
@Catch()
export class PluginHostExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('PluginHost');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const body = knownErrorBody(exception) ?? this.unknownErrorBody(exception);
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    const etag = currentETag(exception);
    if (etag !== undefined) httpAdapter.setHeader(response, 'ETag', etag);
    httpAdapter.reply(response, body, body.statusCode);
  }

  /** The logged 500 for an error nothing else answers (also used outside Nest's pipeline). */
  unknownErrorBody(exception: unknown): PluginHostErrorBody {
    const correlationId = randomUUID();
    this.logger.error(
      `Unhandled error [${correlationId}]: ${describeThrown(exception, { stack: true })}`,
    );
    return {
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      code: 'INTERNAL_ERROR',
      message: 'Internal server error.',
      correlationId,
    };
  }
}

/**
 * The error body for a module error, an `HttpException` or a body-parser rejection, or `undefined`
 * for anything else (which the filter answers as a logged 500).
 */
export function knownErrorBody(exception: unknown): PluginHostErrorBody | undefined {
  if (exception instanceof CapabilityFailedError) {
    return {
      statusCode: exception.status,
      code: exception.code,
      message: exception.message,
      correlationId: exception.correlationId,
    };
  }
  if (exception instanceof PluginHostError) {
    const body: PluginHostErrorBody = {
      statusCode: exception.status,
      code: exception.code,
      message: exception.message,
    };
    if (exception instanceof PluginValidationError) {
      if (exception.errors.length > 1) body.errors = exception.errors;
      if (exception.details.length > 0) body.details = exception.details;
    } else if (exception instanceof PluginVersionConflictError) {
      body.slug = exception.slug;
      body.currentVersion = exception.actualVersion;
    }
    return body;
  }
  if (exception instanceof HttpException) return fromHttpException(exception);
  return bodyParserErrorBody(exception);
}

/** What a 412 sends as `ETag`: the current version or navigation fingerprint, to retry with. */
function currentETag(exception: unknown): string | undefined {
  if (exception instanceof PluginVersionConflictError) return `"${exception.actualVersion}"`;
  if (exception instanceof PluginNavOrderConflictError) {
    return navETag(exception.actualFingerprint);
  }
  return undefined;
}

function fromHttpException(exception: HttpException): PluginHostErrorBody {
  const statusCode = exception.getStatus();
  const response = exception.getResponse();
  const details =
    typeof response === 'object' && response !== null ? (response as Record<string, unknown>) : {};
  const raw = details.message ?? exception.message;
  const errors = Array.isArray(raw) ? raw.map(String) : undefined;
  const body: PluginHostErrorBody = {
    statusCode,
    code:
      typeof details.code === 'string'
        ? details.code
        : (CODE_BY_STATUS[statusCode] ?? (statusCode >= 500 ? 'INTERNAL_ERROR' : 'ERROR')),
    message: errors ? errors.join('; ') : String(raw),
  };
  if (errors && errors.length > 1) body.errors = errors;
  return body;
}

/**
 * The error body for a body-parser rejection (it carries `type`, or a zlib `Z_*` code when the body
 * did not decompress, and a 4xx `status`, but is no `HttpException`), or `undefined` for anything
 * else.
 */
export function bodyParserErrorBody(error: unknown): PluginHostErrorBody | undefined {
  const { status, type, code, body } = (error ?? {}) as {
    status?: unknown;
    type?: unknown;
    code?: unknown;
    body?: unknown;
  };
  const fromParser =
    typeof type === 'string' || (typeof code === 'string' && code.startsWith('Z_'));
  if (typeof status !== 'number' || status < 400 || status >= 500 || !fromParser) return undefined;
  if (type === 'entity.too.large') {
    return { statusCode: 413, code: 'PAYLOAD_TOO_LARGE', message: TRANSPORT_MESSAGES.tooLarge };
  }
  if (type === 'entity.parse.failed') {
    return { statusCode: 400, code: 'VALIDATION_FAILED', message: jsonFailureMessage(body) };
  }
  return {
    statusCode: status,
    code: CODE_BY_STATUS[status] ?? 'BAD_REQUEST',
    message: (error as Error).message,
  };
}

/** Why a JSON body failed to parse: broken JSON, or no object or array at all. */
export function jsonFailureMessage(body: unknown): string {
  const start = typeof body === 'string' ? body.trimStart()[0] : undefined;
  return start === '{' || start === '[' ? TRANSPORT_MESSAGES.notJson : TRANSPORT_MESSAGES.notObject;
}
