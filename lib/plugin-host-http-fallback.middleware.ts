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
  PluginHostExceptionFilter,
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
type PreParsingHook = (
  request: FastifyRequestLike,
  reply: unknown,
  payload: Readable,
  done: Done,
) => void;
type PreValidationHook = (request: FastifyRequestLike, reply: unknown, done: Done) => void;
/** A hook option of a route: one hook, several, or none. */
type RouteHooks<T> = T | T[] | undefined;
/** The parts of a route's options the `onRoute` hook reads and sets. */
interface FastifyRouteLike {
  url: string;
  method: string | string[];
  preParsing?: RouteHooks<PreParsingHook>;
}
interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: FastifyRouteLike) => void): unknown;
  addHook(name: 'onReady', hook: (done: (error?: Error) => void) => void): unknown;
  decorateRequest(name: symbol, value: null): unknown;
  setNotFoundHandler(this: unknown, ...args: unknown[]): unknown;
}
/** The options of Fastify's `setNotFoundHandler` this module adds to. */
interface NotFoundOptions {
  preParsing?: RouteHooks<PreParsingHook>;
  preValidation?: RouteHooks<PreValidationHook>;
  [option: string]: unknown;
}

/** Fastify's record of a content type parser (internal: Fastify has no public getter for one). */
interface FastifyParserLike {
  asString?: boolean;
  asBuffer?: boolean;
  fn: (
    this: unknown,
    request: FastifyRequestLike,
    body: string | Buffer,
    done: (error: Error | null, body?: unknown) => void,
  ) => unknown;
}

/**
 * Set on a request of the module's routes (or unmatched under its path) from its `preParsing` hook
 * on: its body is read under Express's rules, so a parsing error gets Express's answer. `chunks`
 * holds the raw bytes of a body kept aside for that answer when the JSON parser cannot be wrapped
 * (see `wrapJsonParser`). Kept on a request decoration, not a WeakMap: every request the run route
 * serves sets it.
 */
interface ParsingState {
  chunks?: Buffer[];
}
/** The state of a body being read that needs nothing kept aside. */
const PARSING: ParsingState = Object.freeze({});
type StatefulRequest = FastifyRequestLike & { [key: symbol]: ParsingState | null };
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
 * - Fastify: the error and not-found handlers Nest installs are wrapped, and a `preParsing` hook on
 *   the module's routes (and on the not-found handler, for requests under its path) makes Fastify
 *   read bodies as Express does: JSON decoded as Express decodes it (encodings, charsets),
 *   and every other body (empty JSON, `+json`, text, unknown types) left to the guard's transport
 *   rules instead of Fastify's parsers. The app's JSON parser, wrapped once the app is ready (see
 *   `wrapJsonParser`), checks JSON as Express parses it: a JSON body Fastify alone refuses
 *   (`__proto__`, which Express parses and the body pipe refuses) gets Express's answer.
 */
@Injectable()
export class PluginHostHttpFallback implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: ApplicationConfig,
    @Inject(PLUGIN_HOST_EXTRAS) private readonly extras: Required<PluginHostModuleExtras>,
    private readonly bodyPipe: PluginHostBodyPipe,
    private readonly filter: PluginHostExceptionFilter,
  ) {}

  /**
   * Fastify's side, from the module's `configure()`: Nest calls it before registering routes, so
   * the `onRoute` hook sees the module's routes and gives each its own hooks.
   */
  beforeRoutes(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || this.extras.path === false || adapter.getType() !== 'fastify') return;
    this.onFastify(adapter, this.base());
  }

  /** Express's side: its middlewares must come after the routes Nest registered. */
  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || this.extras.path === false || adapter.getType() !== 'express') return;
    this.onExpress(adapter, this.base());
  }

  private base(): string {
    return joinPath(this.config.getGlobalPrefix(), this.extras.path as string);
  }

  private onExpress(adapter: AbstractHttpAdapter, base: string): void {
    const handler: ErrorMiddleware = (error, request, response, next) => {
      const body = isUnder(adapter.getRequestUrl(request), base)
        ? (bodyParserErrorBody(error) ?? undecodablePathBody(error))
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
    // A request's `ParsingState` while its body is read under `base`, else null: an error then
    // comes from body parsing. One symbol per app, so two apps in one process share nothing.
    const state = Symbol('plugin-host:parsing');
    fastify.decorateRequest(state, null);
    const parsingOf = (request: FastifyRequestLike) => (request as StatefulRequest)[state] ?? null;
    const setParsing = (request: FastifyRequestLike, value: ParsingState | null) => {
      (request as StatefulRequest)[state] = value;
    };
    const side: JsonSide = { parsed: new WeakMap(), raised: new WeakSet() };
    const withBody = bodyMethodsOf(fastify);
    // Wrapped once the app is ready: parsers can no longer change then, and one registered after
    // this module's init (Fastify's own can be replaced until then) is the one wrapped.
    let wrapped = false;
    fastify.addHook('onReady', (done) => {
      wrapped = this.wrapJsonParser(fastify, side, parsingOf);
      done();
    });

    // Without a wrapped parser, the raw bytes of a plain JSON body are kept on the side for
    // `parseErrorBody`; a 'data' listener per request costs the run route about 5% on Fastify.
    const received = (request: FastifyRequestLike, payload: Readable): Readable => {
      const chunks: Buffer[] = [];
      payload.on('data', (chunk: Buffer) => chunks.push(chunk));
      setParsing(request, { chunks });
      return payload;
    };

    const preParsing: PreParsingHook = (request, _reply, payload, done) => {
      setParsing(request, PARSING);
      const headers = request.headers;
      // The usual request, a plain JSON body for the wrapped parser, without parsing any header
      // (the general path below reaches the same answer; bench:compare measured this one cheaper).
      if (
        wrapped &&
        headers['content-type'] === 'application/json' &&
        Number(headers['content-length']) > 0 &&
        isPlainJson(headers, '')
      ) {
        return done(null, payload);
      }
      const contentType = header(headers, 'content-type');
      const type = contentType.split(';')[0].trim().toLowerCase();
      const empty =
        headers['transfer-encoding'] === undefined && Number(headers['content-length'] ?? 0) === 0;
      if (type === 'application/x-www-form-urlencoded' || (contentType === '' && empty)) {
        return done(null, payload);
      }
      if (type === 'application/json' && !empty) {
        // The common case needs no decoding: Fastify reads the body itself. (A Transform and
        // pipeline per request cost the run route a third of its throughput on Fastify.)
        if (isPlainJson(headers, contentType)) {
          return done(null, wrapped ? payload : received(request, payload));
        }
        try {
          const decoding: JsonDecoding = {
            text: jsonTextDecoder(contentType),
            decompressor: bodyDecompressor(header(request.headers, 'content-encoding')),
            chunked: request.headers['content-length'] === undefined,
          };
          return done(null, decodeJson(request.raw, payload, side, decoding));
        } catch (refusal) {
          return done(raise(side, refusal as Error));
        }
      }
      // Express's parser reads JSON and forms only, and an empty JSON body as `{}`; Fastify refuses
      // an empty JSON body, parses text/plain and answers 415 for unknown types before routing.
      // Hiding the body headers from its parser leaves these bodies to the guard's transport rules,
      // as on Express. (Fastify reads no body of a GET, HEAD or TRACE.)
      if (withBody(request.method)) hideBodyHeaders(request);
      done(null, payload);
    };
    /**
     * The not-found handler's: puts back what `preParsing` hid if nothing read it, and refuses a
     * non-object JSON body a parser it could not wrap let through (Express's strict parser takes
     * objects and arrays only; the guard does the same on the module's routes).
     */
    const notFoundValidation: PreValidationHook = (request, _reply, done) => {
      if (parsingOf(request) === null) return done();
      restoreHeaders(request);
      if (request.body !== undefined && !isObject(request.body)) {
        return done(raise(side, new PluginValidationError(TRANSPORT_MESSAGES.notObject)));
      }
      setParsing(request, null);
      done();
    };
    // The GET routes under `base`, for the trailing-slash redirect of the not-found handler.
    const readable: RegExp[] = [];
    // A route hook, on the module's routes only: the app's other routes run no hook of this module.
    // It comes after the app's own `preParsing` hooks (route hooks follow global ones), and it is
    // the last thing to run before Fastify looks at the body headers.
    fastify.addHook('onRoute', (route) => {
      if (!isUnder(route.url, base)) return;
      route.preParsing = [...hooksOf(route.preParsing), preParsing];
      const pattern = [route.method].flat().includes('GET') ? routePattern(route.url) : undefined;
      if (pattern) readable.push(pattern);
    });
    const isReadable = (path: string) => readable.some((pattern) => pattern.test(path));

    // Nest installs both handlers after the modules' `onModuleInit`, through the adapter.
    const filter = this.filter;
    const setErrorHandler = adapter.setErrorHandler.bind(adapter);
    adapter.setErrorHandler = (nest: FastifyErrorHandler, prefix?: string) =>
      setErrorHandler(
        function (this: unknown, error, request, reply) {
          restoreHeaders(request);
          if (parsingOf(request) === null) return nest.call(this, error, request, reply);
          // Past parsing, what reaches here from the module's routes is an app hook's error (Nest
          // answers it, with the app's filters), or one from serialising the answer (a capability
          // output JSON cannot hold), which Fastify marks: that one gets the module's logged 500,
          // as the exception filter gives it on Express.
          const body =
            parseErrorBody(error, request) ??
            (isSerializationError(error) ? filter.unknownErrorBody(error) : undefined);
          if (!body) return nest.call(this, error, request, reply);
          adapter.reply(reply, body, body.statusCode);
        } satisfies FastifyErrorHandler,
        prefix,
      );
    // Express parses a body before routing, so a request under the module's path that matches no
    // route gets the same body rules: the not-found handler carries the hooks too (Fastify takes
    // every lifecycle hook there, as on a route), for the requests under that path only.
    const notFoundParsing: PreParsingHook = (request, reply, payload, done) => {
      if (!isUnder(request.raw.url, base)) return done(null, payload);
      preParsing(request, reply, payload, done);
    };
    // Whatever installs Nest's handler in the end (the adapter, a subclass's override, a wrapper of
    // the app's) does so through Fastify's `setNotFoundHandler`, which gets the hooks added to its
    // options for the time of that call.
    const setNotFoundHandler = adapter.setNotFoundHandler.bind(adapter);
    adapter.setNotFoundHandler = (nest: FastifyNotFoundHandler, ...rest: unknown[]) => {
      const own = Object.hasOwn(fastify, 'setNotFoundHandler');
      const install = fastify.setNotFoundHandler;
      fastify.setNotFoundHandler = function (this: unknown, ...args: unknown[]) {
        const [options, handler] = (
          typeof args[0] === 'function' ? [{}, args[0]] : [args[0] ?? {}, args[1]]
        ) as [NotFoundOptions, FastifyNotFoundHandler | undefined];
        const hooked: NotFoundOptions = {
          ...options,
          preParsing: [...hooksOf(options.preParsing), notFoundParsing],
          preValidation: [...hooksOf(options.preValidation), notFoundValidation],
        };
        return install.call(this, hooked, handler);
      };
      try {
        return setNotFoundHandler(
          function (this: unknown, request, reply) {
            if (!isUnder(request.raw.url, base)) return nest.call(this, request, reply);
            const slashless = slashlessTarget(adapter, request, isReadable);
            if (slashless !== undefined) return adapter.redirect(reply, 308, slashless);
            adapter.reply(reply, notFound(adapter, request), 404);
          } satisfies FastifyNotFoundHandler,
          ...(rest as [string?]),
        );
      } finally {
        if (own) fastify.setNotFoundHandler = install;
        else delete (fastify as Partial<FastifyLike>).setNotFoundHandler;
      }
    };

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
        const received = parsingOf(request)?.chunks;
        if (received && !side.parsed.has(request.raw)) {
          // A body Fastify read undecoded (see `isPlainJson`): parsed as Express parses it.
          try {
            side.parsed.set(request.raw, parseJsonBody(UTF8.decode(Buffer.concat(received))));
          } catch (refusal) {
            return knownErrorBody(refusal);
          }
        }
        // Only valid JSON gets this far (see `decodeJson`).
        if (request.is404) return notFound(adapter, request);
        return knownErrorBody(this.refusalOf(side.parsed.get(request.raw)));
      }
      const type = header(request.headers, 'content-type').split(';')[0].trim().toLowerCase();
      // A parsed form has a body: a 400 then comes from a later hook of the app's, not the parser.
      const formRefused =
        type === 'application/x-www-form-urlencoded' &&
        request.body === undefined &&
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

  /**
   * Wraps the app's `application/json` parser (Nest's, the user's or Fastify's own) for requests
   * whose body is read under the module's path, so that it answers as Express's parser does, with
   * the body at hand: a JSON value that is not an object or array is refused, and a body the parser
   * refuses as JSON is parsed as Express parses it, for Express's answer. Every other request, and
   * the parser's other errors, pass through untouched.
   *
   * Fastify has no public getter for a parser, so its record is read from Fastify's internals and
   * its `fn` replaced in place (which also reaches the copies that encapsulated contexts made of the
   * root's parsers; a context that set its own JSON parser keeps it unwrapped). Returns false when
   * that record is not there, or belongs to a parser that reads the stream itself: `preParsing` then
   * keeps each body's bytes aside instead, which costs a listener per request.
   */
  private wrapJsonParser(
    fastify: FastifyLike,
    side: JsonSide,
    parsingOf: (request: FastifyRequestLike) => ParsingState | null,
  ): boolean {
    const parser = jsonParserOf(fastify);
    if (parser === null) return false;
    const parse = parser.fn;
    const refusalOf = (parsed: unknown) => this.refusalOf(parsed);
    parser.fn = function (this: unknown, request, body, done) {
      if (parsingOf(request) === null) return parse.call(this, request, body, done);
      let settled = false;
      const finish = (error: Error | null, parsed?: unknown) => {
        if (settled) return;
        settled = true;
        if (error == null) {
          // Fastify parses any JSON value; Express's strict parser takes objects and arrays only.
          if (isObject(parsed)) return done(null, parsed);
          return done(raise(side, new PluginValidationError(TRANSPORT_MESSAGES.notObject)));
        }
        if ((error as { code?: unknown }).code !== 'FST_ERR_CTP_INVALID_JSON_BODY') {
          return done(error);
        }
        let expressParsed: unknown;
        try {
          // Express's parser drops a byte order mark (the decoder does so for bytes).
          const text = typeof body === 'string' ? body.replace(/^\uFEFF/, '') : UTF8.decode(body);
          expressParsed = parseJsonBody(text);
        } catch (refusal) {
          return done(raise(side, refusal as Error));
        }
        // Valid JSON the parser refused (`__proto__`, `constructor.prototype`): Express parses it,
        // then answers 404 off the routes, else the route's body pipe refuses it.
        if (request.is404) return done(null, expressParsed);
        done(raise(side, refusalOf(expressParsed)));
      };
      let result: unknown;
      try {
        result = parse.call(this, request, body, finish);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        (result as PromiseLike<unknown>).then((parsed) => finish(null, parsed), finish);
      }
    };
    return true;
  }

  /**
   * What the module answers for a JSON body Express parses but Fastify's parser refuses: the body
   * pipe's refusal (`__proto__`, `constructor.prototype`), else a plain "not valid JSON".
   */
  private refusalOf(parsed: unknown): Error {
    try {
      this.bodyPipe.transform(parsed);
    } catch (refusal) {
      return refusal as Error;
    }
    return new PluginValidationError(TRANSPORT_MESSAGES.notJson);
  }
}

/** Marks an error as raised here with Express's answer, for the error handler. */
function raise(side: JsonSide, error: Error): Error {
  side.raised.add(error);
  return error;
}

/**
 * Fastify's record of the root instance's `application/json` parser, when it is one that receives
 * the whole body (`parseAs`); else null.
 */
function jsonParserOf(fastify: object): FastifyParserLike | null {
  const key = Object.getOwnPropertySymbols(fastify).find(
    (symbol) => symbol.description === 'fastify.contentTypeParser',
  );
  const parsers =
    key === undefined
      ? undefined
      : (fastify as Record<symbol, { customParsers?: unknown } | undefined>)[key]?.customParsers;
  if (!(parsers instanceof Map)) return null;
  const parser = parsers.get('application/json') as Partial<FastifyParserLike> | undefined;
  if (typeof parser?.fn !== 'function') return null;
  if (parser.asString !== true && parser.asBuffer !== true) return null;
  return parser as FastifyParserLike;
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
        callback(raise(side, refusal as Error));
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
      decoded.destroy(raise(side, new PluginValidationError(error.message)));
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

/**
 * Where a GET or HEAD with one trailing slash (`/plugins/mail/`, `/ui/`) that matched no Fastify
 * route is sent: the same path without it, relative (`../mail?query`), so it holds behind a proxy
 * that rewrites the path. Express's router ignores the slash; Fastify's (by default) does not, and a
 * browser given `/ui/` would get a JSON 404 rather than the admin page. Other methods get the 404:
 * a redirect would make a client send the body again.
 */
function slashlessTarget(
  adapter: AbstractHttpAdapter,
  request: unknown,
  isReadable: (path: string) => boolean,
): string | undefined {
  const method = adapter.getRequestMethod(request);
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const url = String(adapter.getRequestUrl(request) ?? '');
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.endsWith('/') || path.endsWith('//')) return undefined;
  // Only to a route that answers GET there: no redirect that ends in a 404 (or loops, at the root).
  if (!isReadable(path.slice(0, -1))) return undefined;
  const last = path.slice(path.lastIndexOf('/', path.length - 2) + 1, -1);
  return `../${last}${query === -1 ? '' : url.slice(query)}`;
}

/**
 * A Fastify route URL (`/api/plugin-host/plugins/:slug`) as a pattern for request paths, or
 * `undefined` for one it cannot match exactly (a parameter with a regular expression or inside a
 * segment, a `::` escape, a partial wildcard): such a route is left out of the redirect rather than
 * matched loosely.
 */
export function routePattern(url: string): RegExp | undefined {
  const parts = url.split('/');
  const exact = parts.every(
    (part) =>
      part === '*' ||
      (!part.includes('*') &&
        !part.includes('(') &&
        !part.includes('::') &&
        (!part.includes(':') || /^:[A-Za-z0-9_]+$/.test(part))),
  );
  if (!exact) return undefined;
  const source = parts
    .map((part) =>
      part.startsWith(':')
        ? '[^/]+'
        : part === '*'
          ? '.*'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}

function notFound(adapter: AbstractHttpAdapter, request: unknown): PluginHostErrorBody {
  const method = String(adapter.getRequestMethod(request) ?? '');
  const path = String(adapter.getRequestUrl(request) ?? '').split('?')[0];
  return { statusCode: 404, code: 'NOT_FOUND', message: `No route ${method} ${path}.` };
}

/**
 * Hides the body headers from the next reader of `request.headers` only: Fastify reads them once,
 * right after the last `preParsing` hook, to pick a parser; finding none, it reads no body. Every
 * later reader (the app's hooks, guards, the module's own) sees the request whole.
 */
function hideBodyHeaders(request: FastifyRequestLike): void {
  Object.defineProperty(request, 'headers', {
    configurable: true,
    get(): Headers {
      restoreHeaders(request);
      return {
        ...request.headers,
        'content-type': undefined,
        'content-length': undefined,
        'transfer-encoding': undefined,
      };
    },
    set(headers: Headers) {
      restoreHeaders(request);
      request.headers = headers;
    },
  });
}

/** Undoes {@link hideBodyHeaders} when nothing read the headers since. */
function restoreHeaders(request: FastifyRequestLike): void {
  if (Object.hasOwn(request, 'headers')) delete (request as { headers?: Headers }).headers;
}

/**
 * Whether Fastify reads a body for a method: its own list (internal: there is no public getter),
 * which `addHttpMethod(..., { hasBody: true })` extends; else every method but GET, HEAD and TRACE.
 */
function bodyMethodsOf(fastify: object): (method: string) => boolean {
  const key = Object.getOwnPropertySymbols(fastify).find(
    (symbol) => symbol.description === 'fastify.acceptedHTTPMethods',
  );
  const methods = key === undefined ? undefined : (fastify as Record<symbol, unknown>)[key];
  const withBody = (methods as { bodywith?: unknown } | undefined)?.bodywith;
  if (withBody instanceof Set) return (method) => withBody.has(method);
  return (method) => method !== 'GET' && method !== 'HEAD' && method !== 'TRACE';
}

/** An error Fastify raised serialising a reply (it sets `serialization` on it). */
function isSerializationError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'serialization' in error;
}

function hooksOf<T>(hooks: RouteHooks<T>): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

/**
 * Express's router refuses a path parameter that does not percent-decode (`/plugins/%`) with a
 * `URIError` it gives status 400; the module answers it in its own shape. (Fastify answers such a
 * URL itself, before any hook, with `FST_ERR_BAD_URL`.)
 */
function undecodablePathBody(error: unknown): PluginHostErrorBody | undefined {
  if (!(error instanceof URIError) || (error as { status?: unknown }).status !== 400)
    return undefined;
  return { statusCode: 400, code: 'VALIDATION_FAILED', message: error.message };
}

/** Whether a URL (a request's, or a route's path) is `base` or below it. */
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
