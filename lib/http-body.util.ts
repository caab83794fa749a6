import { HttpException, HttpStatus } from '@nestjs/common';
import type { Readable, Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { jsonFailureMessage, TRANSPORT_MESSAGES } from './plugin-host-exception.filter.js';
import { PluginPayloadTooLargeError, PluginValidationError } from './plugin-host.errors.js';
import { MESSAGES } from './plugin-host.messages.js';

/** Request headers as both platforms hand them over. */
export type Headers = Record<string, string | string[] | undefined>;

/** The parts of an Express or Fastify request the body helpers read. */
export interface HttpRequest {
  method?: string;
  headers: Headers;
  body?: unknown;
  /** Fastify's request wraps the Node.js one; Express's is the Node.js one. */
  raw?: Readable;
}

/** `application/json` and the `+json` types (`application/merge-patch+json`, ...). */
export const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Parses a JSON request body as Express's body parser does (`strict`): empty is `{}`, anything that
 * does not start with `{` or `[` is refused, and `__proto__` stays an ordinary key (the body pipe
 * refuses it with its path). Throws `PluginValidationError` with the answer Express gives.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) return {};
  const first = /^[ \t\n\r]*([\s\S])/.exec(text)?.[1];
  try {
    if (first !== '{' && first !== '[') throw new SyntaxError('not an object or array');
    return JSON.parse(text) as unknown;
  } catch {
    throw new PluginValidationError(jsonFailureMessage(text));
  }
}

/**
 * A decoder for a JSON body's charset, as Express's body parser accepts them: the UTF family only
 * (415 otherwise). It drops a byte order mark, as that parser does.
 */
export function jsonTextDecoder(contentType: string): TextDecoder {
  const charset =
    /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType)?.[1]?.toLowerCase() ?? 'utf-8';
  try {
    if (charset.startsWith('utf-')) return new TextDecoder(charset);
  } catch {
    // An unknown UTF name: refused below, as Express refuses it.
  }
  throw transportRefusal(`unsupported charset "${charset.toUpperCase()}"`);
}

/**
 * The decompressing stream for a `Content-Encoding` Express's body parser accepts (`null` for
 * none); 415 for any other.
 */
export function bodyDecompressor(contentEncoding: string): Transform | null {
  const encoding = contentEncoding.trim().toLowerCase() || 'identity';
  if (encoding === 'identity') return null;
  if (encoding === 'gzip') return createGunzip();
  if (encoding === 'deflate') return createInflate();
  if (encoding === 'br') return createBrotliDecompress();
  throw transportRefusal(`unsupported content encoding "${encoding}"`);
}

/** The 415 the REST API answers for a body it does not read. */
export function transportRefusal(message: string): HttpException {
  return new HttpException(
    { code: 'UNSUPPORTED_MEDIA_TYPE', message },
    HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  );
}

/**
 * Reads and parses a JSON body the platform left unread, with the same rules and answers as
 * Express's body parser.
 */
export async function readJsonBody(
  stream: Readable,
  headers: Headers,
  limit: number,
): Promise<unknown> {
  const decoder = jsonTextDecoder(header(headers, 'content-type'));
  const decompressor = bodyDecompressor(header(headers, 'content-encoding'));
  const body = await readAll(stream, decompressor, limit);
  return parseJsonBody(decoder.decode(body));
}

/**
 * Reads a request body (decompressed) of at most `limit` bytes. Past the limit it stops listening
 * rather than destroying the request, which would cut the connection before the 413 is sent.
 */
function readAll(raw: Readable, decompressor: Transform | null, limit: number): Promise<Buffer> {
  const stream = decompressor ? raw.pipe(decompressor) : raw;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = (error?: Error) => {
      if (decompressor) raw.unpipe(decompressor);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) settle(new PluginPayloadTooLargeError(TRANSPORT_MESSAGES.tooLarge));
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    const onClose = () => settle(new PluginValidationError(TRANSPORT_MESSAGES.cutShort));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', (error) => settle(new PluginValidationError(error.message)));
    stream.on('close', onClose);
  });
}

/** The request's body stream when nothing read it yet, else `null`. */
export function unreadStream(request: HttpRequest): Readable | null {
  const stream = request.raw ?? (request as unknown as Readable);
  if (typeof stream?.on !== 'function' || stream.readableDidRead || stream.readableEnded) {
    return null;
  }
  return stream;
}

/** One header as a string (repeated headers joined), `''` when absent. */
export function header(headers: Headers, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/**
 * The REST API's transport rules, checked after access and before any pipe: a body over
 * `maxBodyBytes` is 413; a request that carries a body, declares a type, or is a bodyless POST from
 * another site must say it is JSON (415 otherwise, so a cross-site page cannot reach a mutating
 * route); and a JSON body the
 * platform left unread (`application/merge-patch+json` and the other `+json` types: the platforms'
 * parsers take `application/json` only) is read here into `request.body`, with the same rules and
 * answers as theirs. Synchronous unless there is a body to read.
 */
export function acceptJsonTransport(
  request: HttpRequest,
  maxBodyBytes: number,
): true | Promise<true> {
  const headers = request.headers;
  const length = Number(headers['content-length'] ?? 0);
  if (length > maxBodyBytes) {
    throw new PluginPayloadTooLargeError(MESSAGES.bodyTooLarge(length, maxBodyBytes));
  }
  // A declared type counts even without a body: an empty HTML form POST sends one, and no JSON
  // client sends a form type, so refusing it closes a cross-site request path.
  const declared = header(headers, 'content-type');
  const typed = declared !== '' && request.method !== 'GET' && request.method !== 'HEAD';
  const carries = length > 0 || headers['transfer-encoding'] !== undefined;
  if ((carries || typed) && declared !== 'application/json' && !JSON_TYPE.test(declared)) {
    throw transportRefusal(TRANSPORT_MESSAGES.notJsonType);
  }
  // The one cross-site request left: a page can make a browser POST with no body and no type
  // (`fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include' })`, `sendBeacon`),
  // cookies included, with no CORS preflight. Such a POST from another site must declare JSON,
  // which that page cannot do without a preflight. `curl -X POST`, server-side clients and the
  // app's own pages keep the bodyless form.
  if (!carries && declared === '' && request.method === 'POST' && crossSite(headers)) {
    throw transportRefusal(TRANSPORT_MESSAGES.browserPost);
  }
  const body = request.body;
  if (body !== undefined && (typeof body !== 'object' || body === null)) {
    // Express's strict JSON parser takes objects and arrays only; so does a Fastify JSON parser the
    // module could wrap. One it could not (it reads the stream itself) lets other values through.
    throw new PluginValidationError(TRANSPORT_MESSAGES.notObject);
  }
  const unread = carries && body === undefined ? unreadStream(request) : null;
  if (unread === null) return true;
  return readJsonBody(unread, headers, maxBodyBytes).then((body) => {
    request.body = body;
    return true;
  });
}

/**
 * Whether a browser marked the request as coming from another site: `Sec-Fetch-Site` other than
 * `same-origin` or `none` (a sibling subdomain counts as another site), or, from a browser too old
 * to send it, an `Origin` that is `null` or names another host than the request's.
 */
function crossSite(headers: Headers): boolean {
  const site = header(headers, 'sec-fetch-site');
  if (site !== '') return site !== 'same-origin' && site !== 'none';
  const origin = header(headers, 'origin');
  if (origin === '') return false;
  try {
    const from = new URL(origin);
    // Parsed the same way, so case and a default port (`h:443` for https) do not count.
    const host = header(headers, 'host') || header(headers, ':authority');
    return new URL(`${from.protocol}//${host}`).host !== from.host;
  } catch {
    return true;
  }
}
