import { Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { PluginHostModule } from '../../lib/index.js';
import { DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { PLUGIN_FIELDS } from '../src/http-assertions.js';

const BASE = '/api/plugin-host';
const ROUTES: Array<[string, string, number, string[]]> = [
  ['get', '/plugins', 200, []],
  ['get', '/plugins/{slug}', 200, ['PLUGIN_NOT_FOUND']],
  ['post', '/plugins', 201, ['PLUGIN_EXISTS', 'VALIDATION_FAILED', 'STORE_FULL']],
  ['patch', '/plugins/{slug}', 200, ['VERSION_CONFLICT', 'VALIDATION_FAILED']],
  ['delete', '/plugins/{slug}', 204, ['PLUGIN_IN_USE', 'PLUGIN_NOT_FOUND']],
  ['post', '/plugins/{slug}/toggle', 200, ['PLUGIN_NOT_FOUND', 'VERSION_CONFLICT']],
  ['post', '/plugins/{slug}/configure', 200, ['PAYLOAD_TOO_LARGE', 'VALIDATION_FAILED']],
  ['put', '/nav/order', 200, ['PLUGIN_NOT_FOUND', 'VERSION_CONFLICT']],
  ['get', '/nav', 200, ['VALIDATION_FAILED']],
  ['get', '/dashboard', 200, []],
  ['get', '/capabilities', 200, []],
  ['get', '/audit', 200, ['AUDIT_UNAVAILABLE']],
  [
    'post',
    '/capabilities/{slug}/run',
    200,
    ['PLUGIN_DISABLED', 'CAPABILITY_FAILED', 'CAPABILITY_TIMEOUT'],
  ],
  ['get', '/workflows', 200, []],
  ['get', '/workflows/runs', 200, ['VALIDATION_FAILED']],
  ['get', '/workflows/runs/{id}', 200, ['WORKFLOW_RUN_NOT_FOUND']],
  ['get', '/workflows/{name}', 200, ['WORKFLOW_NOT_FOUND']],
  ['put', '/workflows/{name}', 200, ['WORKFLOW_DEFINED_IN_CODE', 'VALIDATION_FAILED']],
  ['delete', '/workflows/{name}', 204, ['WORKFLOW_NOT_FOUND']],
  ['post', '/workflows/{name}/run', 200, ['WORKFLOW_NOT_FOUND']],
];

describe('OpenAPI document', () => {
  let document: OpenAPIObject;
  beforeAll(async () => {
    @Module({
      imports: [EventEmitterModule.forRoot(), PluginHostModule.forRoot({ store: 'memory' })],
      providers: DEFAULT_PROVIDERS,
    })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    // Built before init, as apps usually do between NestFactory.create() and listen().
    document = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('t').build());
    await app.close();
  });

  it.each(ROUTES)(
    'describes %s %s with its success and error responses',
    (method, path, ok, codes) => {
      const operation = (document.paths[`${BASE}${path}`] as Record<string, any>)?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(operation.tags).toEqual(['plugin-host']);
      expect(operation.summary).toEqual(expect.any(String));
      expect(operation.responses[ok]).toBeDefined();
      expect(operation.responses[403].description).toContain('FORBIDDEN');
      const described = Object.values(
        operation.responses as Record<string, { description: string }>,
      )
        .map((r) => r.description)
        .join(' ');
      for (const code of codes) expect(described).toContain(code);
      if (['post', 'patch', 'put'].includes(method) && !path.endsWith('/toggle')) {
        expect(operation.requestBody?.content?.['application/json']?.schema).toBeDefined();
      }
    },
  );

  it('names every response and request model with its fields', () => {
    const schemas = document.components!.schemas as Record<
      string,
      { properties: object; required?: string[] }
    >;
    expect(Object.keys(schemas.PluginResponse.properties).sort()).toEqual(PLUGIN_FIELDS);
    expect(schemas.RegisterPluginDto.required).toContain('slug');
    expect(Object.keys(schemas.ReorderPluginsDto.properties)).toEqual(['slugs']);
    expect(Object.keys(schemas.ErrorResponse.properties)).toEqual(
      expect.arrayContaining(['statusCode', 'code', 'message']),
    );
    expect(Object.keys(schemas.DashboardResponse.properties)).toEqual(
      expect.arrayContaining(['plugins', 'nav', 'capabilities', 'counts']),
    );
  });

  it('describes the fields a client acts on: details, slug and currentVersion', () => {
    const schemas = document.components!.schemas as Record<
      string,
      { properties: Record<string, any>; required?: string[] }
    >;
    const error = schemas.ErrorResponse;
    for (const optional of ['errors', 'details', 'slug', 'currentVersion']) {
      expect(error.required ?? []).not.toContain(optional);
    }
    expect(error.properties.currentVersion).toMatchObject({ type: 'number' });
    expect(error.properties.slug).toMatchObject({ type: 'string' });
    expect(error.properties.details).toMatchObject({
      type: 'array',
      items: { $ref: '#/components/schemas/ErrorDetailResponse' },
    });
    expect(schemas.ErrorDetailResponse.properties).toMatchObject({
      path: { type: 'string', example: 'config.smtp.port' },
      message: { type: 'string' },
    });
    expect(schemas.ErrorDetailResponse.required).toEqual(['path', 'message']);
  });

  it('describes the ETag of 412 answers and the navigation, and If-Match on PUT /nav/order', () => {
    const op = (method: string, path: string) =>
      (document.paths[`${BASE}${path}`] as Record<string, any>)[method];
    for (const [method, path] of [
      ['patch', '/plugins/{slug}'],
      ['delete', '/plugins/{slug}'],
      ['post', '/plugins/{slug}/toggle'],
      ['post', '/plugins/{slug}/configure'],
      ['put', '/nav/order'],
    ]) {
      expect(op(method, path).responses[412].headers?.ETag, `${method} ${path}`).toBeDefined();
    }
    expect(op('get', '/nav').responses[200].headers.ETag.description).toContain('If-Match');
    expect(op('put', '/nav/order').responses[200].headers.ETag).toBeDefined();
    expect(op('put', '/nav/order').parameters).toContainEqual(
      expect.objectContaining({ name: 'If-Match', in: 'header', required: false }),
    );
  });
});
