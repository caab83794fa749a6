import type { INestApplication } from '@nestjs/common';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type HttpAdapterName } from '../src/app.factory.js';

const API = '/api/plugin-host';
const JSON_TYPE = { 'Content-Type': 'application/json' };
const GZIP = { 'Content-Encoding': 'gzip' };
const ADAPTERS: HttpAdapterName[] = ['express', 'fastify'];

type Send = (http: ReturnType<typeof request>) => request.Test;
const json = (send: Send, body: string, type = 'application/json'): Send => {
  return (http) => send(http).set('Content-Type', type).send(body);
};
/** Sends `body` as raw bytes (superagent would JSON-encode a Buffer sent with a JSON type). */
const bytes = (send: Send, body: Buffer, headers: Record<string, string>): Send => {
  return (http) =>
    send(http)
      .set(headers)
      .serialize((data: unknown) => data as string)
      .send(body as unknown as string);
};
const configure: Send = (http) => http.post(`${API}/plugins/newsletter/configure`);
const toggle: Send = (http) => http.post(`${API}/plugins/mail/toggle`);
const run: Send = (http) => http.post(`${API}/capabilities/newsletter.echo/run`);

/** Requests the platforms handle before any route does, or that only one platform parses. */
const CASES: Array<[string, Send]> = [
  ['an unknown route', (http) => http.get(`${API}/nothing/here`)],
  ['a known path with another method', (http) => http.delete(`${API}/plugins`)],
  ['the bare API path', (http) => http.get(API)],
  ['malformed JSON', json(configure, '{"from": "x",')],
  ['a body that is not JSON at all', json(configure, 'hello')],
  ['a JSON string', json(configure, '"mail"')],
  ['a JSON number', json(run, '42')],
  ['JSON null', json(toggle, 'null')],
  ['__proto__ at depth 0', json(configure, '{"__proto__":{"polluted":1}}')],
  ['__proto__ nested', json(run, '{"a":{"b":{"__proto__":{"polluted":1}}}}')],
  ['constructor.prototype', json(configure, '{"constructor":{"prototype":{"polluted":1}}}')],
  ['__proto__ inside an array', json(configure, '[{"__proto__":{"polluted":1}}]')],
  [
    '__proto__ beside DTO fields',
    json((h) => h.post(`${API}/plugins`), '{"slug":"x","__proto__":{}}'),
  ],
  ['__proto__ on an unknown route', json((h) => h.post(`${API}/nothing`), '{"__proto__":{}}')],
  ['malformed JSON on an unknown route', json((h) => h.post(`${API}/nothing`), '{"a":')],
  ['an empty JSON body', json(toggle, '')],
  [
    'an application/merge-patch+json toggle',
    json(toggle, '{"enabled":true}', 'application/merge-patch+json'),
  ],
  [
    'an application/merge-patch+json patch',
    json(configure, '{"from":null,"a":1}', 'application/merge-patch+json'),
  ],
  ['malformed application/*+json', json(configure, '{"a":', 'application/merge-patch+json')],
  [
    '__proto__ in application/*+json',
    json(configure, '{"__proto__":{}}', 'application/vnd.x+json'),
  ],
  ['JSON in latin1', json(configure, '{"a":1}', 'application/json; charset=latin1')],
  [
    'application/*+json in latin1',
    json(configure, '{"a":1}', 'application/x+json; charset=latin1'),
  ],
  ['text/plain', json(toggle, '{"enabled":false}', 'text/plain')],
  ['an unknown media type', json(configure, '<a/>', 'application/xml')],
  ['an invalid Content-Type', json(configure, '{"a":1}', 'json')],
  [
    'a form',
    json((h) => h.post(`${API}/plugins`), 'slug=form-made', 'application/x-www-form-urlencoded'),
  ],
  [
    'a form with __proto__',
    json(toggle, '__proto__=1&enabled=false', 'application/x-www-form-urlencoded'),
  ],
  [
    'a JSON body over the parser limit',
    (http) => configure(http).send({ big: 'x'.repeat(200_000) }),
  ],
  [
    'a +json body under maxBodyBytes',
    json(configure, JSON.stringify({ big: 'x'.repeat(200_000) }), 'application/merge-patch+json'),
  ],
  [
    'a +json body over maxBodyBytes',
    json(configure, JSON.stringify({ big: 'x'.repeat(300_000) }), 'application/merge-patch+json'),
  ],
  ['a 200-character plugin slug', (http) => http.get(`${API}/plugins/${'a'.repeat(200)}`)],
  [
    'a 200-character capability slug',
    (http) => http.post(`${API}/capabilities/${'a'.repeat(200)}/run`),
  ],
  [
    'a 200-character segment of no route',
    (http) => http.get(`${API}/plugins/${'a'.repeat(200)}/nope`),
  ],
  ['a whitespace-only JSON body', json(toggle, '  \n ')],
  ['a JSON body with a byte order mark', json(configure, '\uFEFF{"bom":1}')],
  ['gzip JSON', bytes(configure, gzipSync('{"gz":1}'), { ...JSON_TYPE, ...GZIP })],
  [
    'deflate JSON',
    bytes(configure, deflateSync('{"df":1}'), { ...JSON_TYPE, 'Content-Encoding': 'deflate' }),
  ],
  [
    'brotli JSON',
    bytes(configure, brotliCompressSync('{"br":1}'), { ...JSON_TYPE, 'Content-Encoding': 'br' }),
  ],
  [
    'JSON that does not gunzip',
    bytes(configure, Buffer.from('{"a":1}'), { ...JSON_TYPE, ...GZIP }),
  ],
  [
    'JSON in an unknown encoding',
    bytes(configure, Buffer.from('{"a":1}'), { ...JSON_TYPE, 'Content-Encoding': 'bogus' }),
  ],
  [
    'UTF-16 JSON',
    bytes(configure, Buffer.from('{"u16":1}', 'utf16le'), {
      'Content-Type': 'application/json; charset=utf-16le',
    }),
  ],
  [
    'gzip +json',
    bytes(configure, gzipSync('{"gz":2}'), {
      'Content-Type': 'application/merge-patch+json',
      ...GZIP,
    }),
  ],
  [
    '+json that does not gunzip',
    bytes(configure, Buffer.from('{"a":1}'), { 'Content-Type': 'application/x+json', ...GZIP }),
  ],
  [
    'UTF-16 +json',
    bytes(configure, Buffer.from('{"u16":2}', 'utf16le'), {
      'Content-Type': 'application/x+json; charset=utf-16le',
    }),
  ],
  ['a bodyless toggle', toggle],
  ['an ETag-carrying read', (http) => http.get(`${API}/plugins/mail`)],
];

/**
 * What a client sees of the module: status, type, its `ETag: "<version>"` (not Express's own weak
 * ETag of any body, an app setting Fastify lacks) and body, minus timestamps.
 */
function seen(res: request.Response) {
  const etag = res.headers.etag as string | undefined;
  const body = JSON.parse(
    JSON.stringify(res.body ?? null, (key, value: unknown) =>
      key === 'createdAt' || key === 'updatedAt' ? '<time>' : value,
    ),
  ) as unknown;
  return {
    status: res.status,
    type: res.headers['content-type'],
    etag: etag?.startsWith('W/') ? undefined : etag,
    body,
  };
}

/** Bodies sent chunked (no Content-Length), which supertest never does. */
const CHUNKED: Array<[string, string, string[]]> = [
  ['an empty chunked JSON body', 'application/json', []],
  ['a chunked JSON body', 'application/json', ['{"enabled":', 'false}']],
  ['malformed chunked JSON', 'application/json', ['{"enabled":', 'fal']],
  ['chunked __proto__', 'application/json', ['{"__proto__":', '{"enabled":false}}']],
  ['a chunked +json body', 'application/merge-patch+json', ['{"enabled":', 'true}']],
  [
    'a chunked +json body over maxBodyBytes',
    'application/merge-patch+json',
    ['{"a":"', 'x'.repeat(300_000), '"}'],
  ],
  ['a chunked text body', 'text/plain', ['x']],
];

/** POSTs `chunks` to the toggle route with `Transfer-Encoding: chunked`. */
async function postChunked(server: Server, type: string, chunks: string[]) {
  const { port } = server.address() as AddressInfo;
  return new Promise<ReturnType<typeof seen>>((resolve, reject) => {
    const req = httpRequest(
      { port, host: '127.0.0.1', method: 'POST', path: `${API}/plugins/mail/toggle` },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve(
            seen({
              status: res.statusCode,
              headers: res.headers,
              body: JSON.parse(text),
            } as request.Response),
          ),
        );
      },
    );
    req.on('error', reject);
    req.setHeader('Content-Type', type);
    req.setHeader('Transfer-Encoding', 'chunked');
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('Express and Fastify answer alike', () => {
  const apps = new Map<HttpAdapterName, INestApplication>();
  beforeAll(async () => {
    for (const adapter of ADAPTERS) {
      const app = await createTestApp({ adapter });
      await app.listen(0, '127.0.0.1');
      apps.set(adapter, app);
    }
  });
  afterAll(async () => {
    await Promise.all([...apps.values()].map((app) => app.close()));
  });

  // In order, on both apps: a request that changes state changes it alike on both.
  it.each(CASES)('%s', async (_, send) => {
    const [express, fastify] = await Promise.all(
      ADAPTERS.map(async (adapter) =>
        seen(await send(request(apps.get(adapter)!.getHttpServer()))),
      ),
    );
    expect(fastify).toEqual(express);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(CHUNKED)('%s', async (_, type, chunks) => {
    const [express, fastify] = await Promise.all(
      ADAPTERS.map((adapter) => postChunked(apps.get(adapter)!.getHttpServer(), type, chunks)),
    );
    expect(fastify).toEqual(express);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
