import {
  BadRequestException,
  Body,
  Controller,
  Injectable,
  Post,
  type INestApplication,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { PluginHostModule } from '../../lib/index.js';
import {
  createTestApp,
  DEFAULT_PROVIDERS,
  FASTIFY_OPTIONS,
  type TestAppOptions,
} from '../src/app.factory.js';

const API = '/api/plugin-host';
const JSON_TYPE = { 'Content-Type': 'application/json' };
const GZIP = { 'Content-Encoding': 'gzip' };

type NotFound = (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown;

const fastifyOf = (app: INestApplication) => app.getHttpAdapter().getInstance() as FastifyInstance;

/**
 * A JSON parser that reads the request stream itself, as a user may register one: the module cannot
 * wrap it (see `wrapJsonParser`) and keeps each body's bytes aside instead.
 */
function streamJsonParser(app: INestApplication): void {
  const fastify = fastifyOf(app);
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  const limit = fastify.initialConfig.bodyLimit ?? 1024 * 1024;
  fastify.addContentTypeParser('application/json', (request, payload, done) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) return void chunks.push(chunk);
      payload.off('data', onData);
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
    };
    payload.on('data', onData);
    payload.on('error', (error) => done(error, undefined));
    payload.on('end', () => {
      payload.off('data', onData);
      if (received <= limit) parse(request, Buffer.concat(chunks).toString('utf8'), done);
    });
  });
}

/** A JSON parser given the body as text, set after the module's init, as a late plugin may. */
function lateTextJsonParser(app: INestApplication): void {
  const fastify = fastifyOf(app);
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
}

/** Each Fastify setup is compared with Express, the reference. */
const SETUPS: Record<string, TestAppOptions> = {
  express: { adapter: 'express' },
  fastify: { adapter: 'fastify' },
  'fastify with rawBody': { adapter: 'fastify', app: { rawBody: true } },
  "fastify with Fastify's own JSON parser": { adapter: 'fastify', app: { bodyParser: false } },
  'fastify with a JSON parser set after init': {
    adapter: 'fastify',
    app: { bodyParser: false },
    afterInit: lateTextJsonParser,
  },
  'fastify with a stream JSON parser': {
    adapter: 'fastify',
    app: { bodyParser: false },
    beforeInit: streamJsonParser,
  },
};
const FASTIFY_SETUPS = Object.keys(SETUPS).filter((name) => name !== 'express');

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
  ['a JSON string on an unknown route', json((h) => h.post(`${API}/nothing`), '"x"')],
  ['text/plain on an unknown route', json((h) => h.post(`${API}/nothing`), 'hi', 'text/plain')],
  [
    'a JSON number to a route that reads no body',
    json((h) => h.delete(`${API}/plugins/no-such-plugin`), '7'),
  ],
  ['a body without a Content-Type', bytes(toggle, Buffer.from('{"enabled":false}'), {})],
  ['a GET with a text/plain body', json((h) => h.get(`${API}/plugins`), 'hi', 'text/plain')],
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
  ['__proto__ after a byte order mark', json(configure, '\uFEFF{"__proto__":{}}')],
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

describe.each(FASTIFY_SETUPS)('Express and %s answer alike', (setup) => {
  const apps = new Map<string, INestApplication>();
  const names = ['express', setup];
  beforeAll(async () => {
    for (const name of names) {
      const app = await createTestApp(SETUPS[name]);
      await app.listen(0, '127.0.0.1');
      apps.set(name, app);
    }
  });
  afterAll(async () => {
    await Promise.all([...apps.values()].map((app) => app.close()));
  });

  // In order, on both apps: a request that changes state changes it alike on both.
  it.each(CASES)('%s', async (_, send) => {
    const [express, fastify] = await Promise.all(
      names.map(async (name) => seen(await send(request(apps.get(name)!.getHttpServer())))),
    );
    expect(fastify).toEqual(express);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(CHUNKED)('%s', async (_, type, chunks) => {
    const [express, fastify] = await Promise.all(
      names.map((name) => postChunked(apps.get(name)!.getHttpServer(), type, chunks)),
    );
    expect(fastify).toEqual(express);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('Fastify reads a plain JSON body under the API path once', () => {
  /** Boots `setup` plus what `hook` adds to Fastify, sends one run with `body`, and closes. */
  async function runOnce(
    setup: TestAppOptions,
    hook: (fastify: FastifyInstance) => void,
    body = '{"text":"hi"}',
  ): Promise<void> {
    const app = await createTestApp({
      ...setup,
      beforeInit: (created) => {
        setup.beforeInit?.(created);
        hook(fastifyOf(created));
      },
    });
    try {
      expect((await json(run, body)(request(app.getHttpServer()))).status).toBe(200);
    } finally {
      await app.close();
    }
  }

  /** The 'data' listeners left on the request stream once the body is parsed, per setup. */
  async function listenersLeft(setup: TestAppOptions): Promise<number[]> {
    const seenCounts: number[] = [];
    await runOnce(setup, (fastify) =>
      fastify.addHook('preValidation', (request, _reply, done) => {
        seenCounts.push(request.raw.listenerCount('data'));
        done();
      }),
    );
    return seenCounts;
  }

  it('through the wrapped JSON parser, with no copy of the bytes kept aside', async () => {
    for (const setup of [
      'fastify',
      'fastify with rawBody',
      "fastify with Fastify's own JSON parser",
      'fastify with a JSON parser set after init',
    ]) {
      expect(await listenersLeft(SETUPS[setup]), setup).toEqual([0]);
    }
  });

  it('leaves rawBody to the app: a hook under the API path still sees the exact bytes', async () => {
    const seenBodies: Array<string | undefined> = [];
    const body = '{"text":"signed"}';
    await runOnce(
      SETUPS['fastify with rawBody'],
      (fastify) =>
        fastify.addHook('preHandler', (request, _reply, done) => {
          seenBodies.push((request as { rawBody?: Buffer }).rawBody?.toString('utf8'));
          done();
        }),
      body,
    );
    expect(seenBodies).toEqual([body]);
  });

  it('keeps the bytes aside when the JSON parser reads the stream itself', async () => {
    expect(await listenersLeft(SETUPS['fastify with a stream JSON parser'])).toEqual([1]);
  });
});

/** An app's catch-all route, as a proxy or an SPA fallback has: it echoes the body it got. */
@Controller()
class CatchAllController {
  @Post('*')
  echo(@Body() body: unknown): { body: unknown } {
    return { body: body ?? null };
  }
}

describe("Fastify keeps the module's body rules to the module's routes", () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await createTestApp({ ...SETUPS.fastify, controllers: [CatchAllController] });
  });
  afterAll(() => app.close());

  it("lets an app route that serves a URL under the API path parse the body Fastify's way", async () => {
    const caught = await request(app.getHttpServer())
      .post(`${API}/not-a-module-route`)
      .set('Content-Type', 'text/plain')
      .send('hello');
    expect({ status: caught.status, body: caught.body }).toEqual({
      status: 201,
      body: { body: 'hello' },
    });
  });

  it("still gives the module's own routes Express's rules", async () => {
    const refused = await request(app.getHttpServer())
      .post(`${API}/capabilities/newsletter.send/run`)
      .set('Content-Type', 'text/plain')
      .send('hello');
    expect({ status: refused.status, code: refused.body.code }).toEqual({
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });
});

/** Records the Content-Type each request showed an app hook, from a provider's `onModuleInit`. */
const typesSeenLate: unknown[] = [];
@Injectable()
class LateHookProvider implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}
  onModuleInit(): void {
    (this.adapterHost.httpAdapter.getInstance() as FastifyInstance).addHook(
      'preValidation',
      (request, _reply, done) => {
        typesSeenLate.push(request.headers['content-type']);
        done();
      },
    );
  }
}

describe("Fastify: the module's hooks beside the app's", () => {
  it('lets app hooks of any kind, added at any time, see the body headers the module reads', async () => {
    const seen: Record<string, unknown[]> = { beforeInit: [], preHandler: [] };
    typesSeenLate.length = 0;
    const app = await createTestApp({
      ...SETUPS.fastify,
      providers: [...DEFAULT_PROVIDERS, LateHookProvider],
      beforeInit: (created) => {
        const fastify = fastifyOf(created);
        fastify.addHook('preValidation', (request, _reply, done) => {
          seen.beforeInit.push(request.headers['content-type']);
          done();
        });
        fastify.addHook('preHandler', (request, _reply, done) => {
          seen.preHandler.push(request.headers['content-type']);
          done();
        });
      },
    });
    try {
      // A body Fastify has no parser for: the module reads it itself, after the access checks.
      const patched = await request(app.getHttpServer())
        .post(`${API}/plugins/newsletter/configure`)
        .set('Content-Type', 'application/merge-patch+json')
        .send('{"from":"ops@example.com"}');
      expect({ status: patched.status, from: patched.body.config?.from }).toEqual({
        status: 200,
        from: 'ops@example.com',
      });
      const type = 'application/merge-patch+json';
      expect({ ...seen, late: typesSeenLate }).toEqual({
        beforeInit: [type],
        preHandler: [type],
        late: [type],
      });
    } finally {
      await app.close();
    }
  });

  it("leaves the answer to an app hook's 400 after a form body was parsed", async () => {
    const app = await createTestApp({
      ...SETUPS.fastify,
      beforeInit: (created) =>
        fastifyOf(created).addHook('preHandler', (_request, _reply, done) =>
          done(new BadRequestException('refused by an app hook')),
        ),
    });
    try {
      const refused = await request(app.getHttpServer())
        .post(`${API}/plugins/newsletter/toggle`)
        .type('form')
        .send('enabled=false');
      expect([refused.status, refused.body.message]).toEqual([400, 'refused by an app hook']);
    } finally {
      await app.close();
    }
  });

  it("leaves an app hook's error with a status code to Nest, as before", async () => {
    const app = await createTestApp({
      ...SETUPS.fastify,
      beforeInit: (created) =>
        fastifyOf(created).addHook('preHandler', (_request, _reply, done) =>
          // The shape of an `http-errors` error, which Nest answers with its status.
          done(
            Object.assign(new Error('denied by the app'), {
              status: 403,
              statusCode: 403,
              expose: true,
            }),
          ),
        ),
    });
    try {
      const denied = await request(app.getHttpServer()).get(`${API}/plugins`);
      expect([denied.status, denied.body.message]).toEqual([403, 'denied by the app']);
    } finally {
      await app.close();
    }
  });

  it("keeps a wrapper of the adapter's setNotFoundHandler set before init (an SPA fallback)", async () => {
    const app = await createTestApp({
      ...SETUPS.fastify,
      beforeInit: (created) => {
        const adapter = created.getHttpAdapter() as unknown as {
          setNotFoundHandler(handler: NotFound, ...rest: unknown[]): unknown;
        };
        const set = adapter.setNotFoundHandler.bind(adapter);
        adapter.setNotFoundHandler = (nest, ...rest) =>
          set(
            function (this: unknown, request, reply) {
              if (request.method !== 'GET' || request.url.startsWith('/api')) {
                return nest.call(this, request, reply);
              }
              reply.type('text/html').send('<main/>');
            },
            ...rest,
          );
      },
    });
    try {
      const page = await request(app.getHttpServer()).get('/some/page');
      const unknown = await request(app.getHttpServer())
        .post(`${API}/nothing`)
        .set('Content-Type', 'application/json')
        .send('{"a":');
      expect([page.status, page.text, unknown.status, unknown.body.code]).toEqual([
        200,
        '<main/>',
        400,
        'VALIDATION_FAILED',
      ]);
    } finally {
      await app.close();
    }
  });

  it("keeps a FastifyAdapter subclass's own setNotFoundHandler and its options", async () => {
    class TaggingAdapter extends FastifyAdapter {
      override setNotFoundHandler(handler: NotFound) {
        return (this.getInstance() as FastifyInstance).setNotFoundHandler(
          {
            preHandler: (_request, reply, done) => {
              reply.header('x-not-found-by', 'tagging-adapter');
              done();
            },
          },
          handler,
        );
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [PluginHostModule.forRoot({ allowAnonymous: true, store: 'memory' })],
      providers: DEFAULT_PROVIDERS,
    }).compile();
    const app = moduleRef.createNestApplication(new TaggingAdapter(FASTIFY_OPTIONS), {
      logger: false,
    });
    await app.init();
    await fastifyOf(app).ready();
    try {
      const elsewhere = await request(app.getHttpServer()).get('/elsewhere');
      const unknown = await request(app.getHttpServer())
        .post(`${API}/nothing`)
        .set('Content-Type', 'application/json')
        .send('{"a":');
      expect([
        elsewhere.status,
        elsewhere.headers['x-not-found-by'],
        unknown.status,
        unknown.body.code,
      ]).toEqual([404, 'tagging-adapter', 400, 'VALIDATION_FAILED']);
    } finally {
      await app.close();
    }
  });
});
