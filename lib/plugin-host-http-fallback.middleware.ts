import { HttpException, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { AbstractHttpAdapter, ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import { PLUGIN_HOST_EXTRAS } from './plugin-host.constants.js';
import type { PluginHostModuleExtras } from './interfaces/plugin-host-options.interface.js';
import { PluginHostBodyPipe } from './plugin-host-body.pipe.js';
import {
  bodyParserErrorBody,
  knownErrorBody,
  TRANSPORT_MESSAGES,
  type PluginHostErrorBody,
} from './plugin-host-exception.filter.js';
import {
  bodyDecompressor,
  header,
  jsonTextDecoder,
  parseJsonBody,
  type Headers,
} from './http-body.util.js';
import { PluginValidationError } from './plugin-host.errors.js';

type ErrorMiddleware = (
  error: unknown,
  request: unknown,
  response: unknown,
  next: (error?: unknown) => void,
) => void;

/** The parts of Fastify's request, reply and instance used here (Fastify is an optional peer). */
interface FastifyRequestLike {
  raw: IncomingMessage;
  method: string;
  headers: Headers;
  is404?: boolean;
  additionalHeaders?: Headers;
  body?: unknown;
}
type Done = (error?: Error | null, payload?: Readable) => void;
interface FastifyLike {
  addHook(
    name: 'preParsing',
    hook: (request: FastifyRequestLike, reply: unknown, payload: Readable, done: Done) => void,
  ): unknown;
  addHook(
    name: 'preValidation',
    hook: (request: FastifyRequestLike, reply: unknown, done: Done) => void,
  ): unknown;
}
type FastifyErrorHandler = (
  this: unknown,
  error: unknown,
  request: FastifyRequestLike,
  reply: unknown,
) => unknown;
type FastifyNotFoundHandler = (
  this: unknown,
  request: FastifyRequestLike,
  reply: unknown,
) => unknown;

/** How a JSON body is decoded before parsing, as Express's body parser decodes it. */
interface JsonDecoding {
  text: TextDecoder;
  decompressor: Transform | null;
  chunked: boolean;
}

/** JSON bodies as Express parses them, and the errors raised here with Express's answer. */
interface JsonSide {
  parsed: WeakMap<object, unknown>;
  raised: WeakSet<object>;
}

/** Decodes as Express's body parser does for UTF-8 (a byte order mark is dropped). */
const UTF8 = new TextDecoder('utf-8');

/**
 * Gives what happens outside the controller on the module's path the same `{ statusCode, code,
 * message }` shape as every other error, the same on Express and Fastify: body-parser rejections
 * (malformed JSON, a JSON string or number as the body, a body over the app's limit: both platforms
 * parse bodies before routing, so no controller filter sees them) and requests that match no route.
 * Anything outside the module's path passes on untouched.
 *
 * - Express: an error middleware and a 404 middleware, added after the routes and before Nest's own.
 * - Fastify: the error and not-found handlers Nest installs are wrapped, and a `preParsing` hook makes
 *   Fastify read bodies as Express does: JSON decoded as Express decodes it (encodings, charsets) and
 *   checked as Express parses it, and every other body (empty JSON, `+json`, text, unknown types)
 *   left to the guard's transport rules instead of Fastify's parsers. A JSON body Fastify alone
 *   refuses (`__proto__`, which Express parses and the body pipe refuses) gets Express's answer.
 */
@Injectable()
export class PluginHostHttpFallback implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
    @Inject(PLUGIN_HOST_EXTRAS) private readonly extras: Required<PluginHostModuleExtras>,
    private readonly bodyPipe: PluginHostBodyPipe,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || this.extras.path === false) return;
    const base = joinPath(this.config.getGlobalPrefix(), this.extras.path);
    if (adapter.getType() === 'express') this.onExpress(adapter, base);
    else if (adapter.getType() === 'fastify') this.onFastify(adapter, base);
  }

  private onExpress(adapter: AbstractHttpAdapter, base: string): void {
    const handler: ErrorMiddleware = (error, request, response, next) => {
      const body = isUnder(adapter.getRequestUrl(request), base)
        ? bodyParserErrorBody(error)
        : undefined;
      if (!body) return next(error);
      adapter.reply(response, body, body.statusCode);
    };
    adapter.use(handler);
    adapter.use(base, (request: unknown, response: unknown) => {
      adapter.reply(response, notFound(adapter, request), 404);
    });
  }

  private onFastify(adapter: AbstractHttpAdapter, base: string): void {
    const fastify = adapter.getInstance<FastifyLike>();
    // Requests between `preParsing` and `preValidation`: an error then comes from body parsing. The
    // value holds the raw bytes of a body Fastify reads undecoded (see `received`), else null.
    const parsing = new WeakMap<object, Buffer[] | null>();
    // Headers hidden from Fastify's parser, with what to restore.
    const hidden = new WeakMap<object, Headers | undefined>();
    const side: JsonSide = { parsed: new WeakMap(), raised: new WeakSet() };
    const restore = (request: FastifyRequestLike) => {
      if (!hidden.has(request)) return;
      request.headers = hidden.get(request) as Headers;
      hidden.delete(request);
    };

    // The common case needs no decoding: Fastify reads the body itself and the raw bytes are kept on
    // the side for `preValidation` and `parseErrorBody`. (A Transform and pipeline per request cost
    // the run route a third of its throughput on Fastify.)
    const received = (request: FastifyRequestLike, payload: Readable): Readable => {
      const chunks: Buffer[] = [];
      payload.on('data', (chunk: Buffer) => chunks.push(chunk));
      parsing.set(request.raw, chunks);
      return payload;
    };

    fastify.addHook('preParsing', (request, _reply, payload, done) => {
      if (!isUnder(request.raw.url, base)) return done(null, payload);
      parsing.set(request.raw, null);
      const contentType = header(request.headers, 'content-type');
      const type = contentType.split(';')[0].trim().toLowerCase();
      const empty =
        request.headers['transfer-encoding'] === undefined &&
        Number(request.headers['content-length'] ?? 0) === 0;
      if (type === 'application/x-www-form-urlencoded' || (contentType === '' && empty)) {
        return done(null, payload);
      }
      if (type === 'application/json' && !empty) {
        if (isPlainJson(request.headers, contentType))
          return done(null, received(request, payload));
        try {
          const decoding: JsonDecoding = {
            text: jsonTextDecoder(contentType),
            decompressor: bodyDecompressor(header(request.headers, 'content-encoding')),
            chunked: request.headers['content-length'] === undefined,
          };
          return done(null, decodeJson(request.raw, payload, side, decoding));
        } catch (refusal) {
          side.raised.add(refusal as Error);
          return done(refusal as Error);
        }
      }
      // Express's parser reads JSON and forms only, and an empty JSON body as `{}`; Fastify refuses
      // an empty JSON body, parses text/plain and answers 415 for unknown types before routing.
      // Hiding the body headers from its parser leaves these bodies to the guard's transport rules, as
      // on Express; `preValidation` puts the headers back before any of the module's code runs.
      hidden.set(request, request.additionalHeaders);
      request.headers = {
        ...request.additionalHeaders,
        'content-type': undefined,
        'content-length': undefined,
        'transfer-encoding': undefined,
      };
      done(null, payload);
    });
    fastify.addHook('preValidation', (request, _reply, done) => {
      const chunks = parsing.get(request.raw);
      if (chunks && !isObject(request.body)) {
        // Fastify parses any JSON value; Express's strict parser takes objects and arrays only.
        const refusal = new PluginValidationError(TRANSPORT_MESSAGES.notObject);
        side.raised.add(refusal);
        return done(refusal);
      }
      parsing.delete(request.raw);
      restore(request);
      done();
    });

    // Nest installs both handlers after the modules' `onModuleInit`, through the adapter.
    const setErrorHandler = adapter.setErrorHandler.bind(adapter);
    adapter.setErrorHandler = (nest: FastifyErrorHandler, prefix?: string) =>
      setErrorHandler(
        function (this: unknown, error, request, reply) {
          restore(request);
          const body =
            parsing.has(request.raw) && isUnder(request.raw.url, base)
              ? parseErrorBody(error, request)
              : undefined;
          if (!body) return nest.call(this, error, request, reply);
          adapter.reply(reply, body, body.statusCode);
        } satisfies FastifyErrorHandler,
        prefix,
      );
    const setNotFoundHandler = adapter.setNotFoundHandler.bind(adapter);
    adapter.setNotFoundHandler = (nest: FastifyNotFoundHandler, ...rest: unknown[]) =>
      setNotFoundHandler(
        function (this: unknown, request, reply) {
          if (!isUnder(request.raw.url, base)) return nest.call(this, request, reply);
          adapter.reply(reply, notFound(adapter, request), 404);
        } satisfies FastifyNotFoundHandler,
        ...(rest as [string?]),
      );

    /** What Express answers for a body Fastify's parser (or this file's hook) refused. */
    const parseErrorBody = (
      error: unknown,
      request: FastifyRequestLike,
    ): PluginHostErrorBody | undefined => {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return { statusCode: 413, code: 'PAYLOAD_TOO_LARGE', message: TRANSPORT_MESSAGES.tooLarge };
      }
      if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
        return {
          statusCode: 400,
          code: 'VALIDATION_FAILED',
          message: 'request size did not match content length',
        };
      }
      if (code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
        const received = parsing.get(request.raw);
        if (received && !side.parsed.has(request.raw)) {
          // A body Fastify read undecoded (see `isPlainJson`): parsed as Express parses it.
          try {
            side.parsed.set(request.raw, parseJsonBody(UTF8.decode(Buffer.concat(received))));
          } catch (refusal) {
            return knownErrorBody(refusal);
          }
        }
        // Only valid JSON gets this far (see `decodeJson`): Fastify refused `__proto__` or
        // `constructor.prototype`, which Express parses; the route's body pipe then refuses them.
        if (request.is404) return notFound(adapter, request);
        try {
          this.bodyPipe.transform(side.parsed.get(request.raw));
        } catch (refusal) {
          return knownErrorBody(refusal);
        }
        return { statusCode: 400, code: 'VALIDATION_FAILED', message: TRANSPORT_MESSAGES.notJson };
      }
      const type = header(request.headers, 'content-type').split(';')[0].trim().toLowerCase();
      const formRefused =
        type === 'application/x-www-form-urlencoded' &&
        error instanceof HttpException &&
        error.getStatus() === 400;
      if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || formRefused) {
        // Express parses a form (dropping `__proto__`, which Nest's Fastify parser refuses) and
        // the guard's transport rules refuse it with 415.
        if (request.is404) return notFound(adapter, request);
        return {
          statusCode: 415,
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: TRANSPORT_MESSAGES.notJsonType,
        };
      }
      return side.raised.has(error as object) ? knownErrorBody(error) : undefined;
    };
  }
}

/**
 * Hands Fastify's JSON parser the body as Express's parser reads it (decompressed, decoded from its
 * UTF charset, without a byte order mark), parsing it on the side as Express does: a body Express
 * refuses fails here first, with Express's answer; one Express accepts is kept for `parseErrorBody`.
 * A chunked empty body becomes `{}`, as Express reads it. `receivedEncodedLength` keeps Fastify's
 * Content-Length and size checks on the bytes received.
 */
function decodeJson(
  raw: object,
  payload: Readable,
  side: JsonSide,
  { text: decoder, decompressor, chunked }: JsonDecoding,
): Readable {
  let text = '';
  const decoded = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const piece = decoder.decode(chunk, { stream: true });
      text += piece;
      callback(null, piece);
    },
    flush(callback) {
      const piece = decoder.decode();
      text += piece;
      if (text === '' && chunked) {
        callback(null, '{}');
        return;
      }
      try {
        side.parsed.set(raw, parseJsonBody(text));
        callback(null, piece);
      } catch (refusal) {
        side.raised.add(refusal as Error);
        callback(refusal as Error);
      }
    },
  }) as Transform & { receivedEncodedLength: number };
  decoded.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    decoded.receivedEncodedLength += chunk.length;
  });
  if (decompressor) {
    // Express answers a body that does not decompress with zlib's message (a 400).
    decompressor.on('error', (error) => {
      const refusal = new PluginValidationError(error.message);
      side.raised.add(refusal);
      decoded.destroy(refusal);
    });
    pipeline(payload, decompressor, decoded, () => {});
  } else {
    pipeline(payload, decoded, () => {});
  }
  return decoded;
}

/**
 * A JSON body Fastify can read as it is: UTF-8 (declared or by default), not compressed, of a
 * declared length. Anything else goes through `decodeJson`.
 */
function isPlainJson(headers: Headers, contentType: string): boolean {
  if (headers['content-length'] === undefined || headers['transfer-encoding'] !== undefined) {
    return false;
  }
  const encoding = header(headers, 'content-encoding').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') return false;
  const semicolon = contentType.indexOf(';');
  if (semicolon === -1) return true;
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?\s*$/i.exec(contentType)?.[1]?.toLowerCase();
  return charset === 'utf-8';
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

function notFound(adapter: AbstractHttpAdapter, request: unknown): PluginHostErrorBody {
  const method = String(adapter.getRequestMethod(request) ?? '');
  const path = String(adapter.getRequestUrl(request) ?? '').split('?')[0];
  return { statusCode: 404, code: 'NOT_FOUND', message: `No route ${method} ${path}.` };
}

/** Whether a request URL is `base` or below it. Runs for every request of the app on Fastify. */
function isUnder(url: unknown, base: string): boolean {
  if (base === '/') return true;
  if (typeof url !== 'string' || !url.startsWith(base)) return false;
  const next = url.charCodeAt(base.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f; /* ? */
}

function joinPath(...parts: string[]): string {
  return `/${parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
}
