import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { FixtureController } from '../src/plugins.fixture.js';
import { ONBOARDING, WorkflowSteps } from '../src/workflow.fixture.js';

const API = '/api/plugin-host';
const JSON_TYPE = { 'Content-Type': 'application/json' };

/** One request, and the documented operation (path template under the API) it must match. */
interface Case {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  op: string;
  body?: object;
  raw?: string;
  headers?: Record<string, string>;
}

const c = (
  method: Case['method'],
  path: string,
  op: string,
  extra: Partial<Pick<Case, 'body' | 'raw' | 'headers'>> = {},
): Case => ({ method, path, op, ...extra });

// In order: later cases depend on earlier ones (the registered `alpha`, the defined `rt`).
const CASES: Case[] = [
  c('get', '/plugins', '/plugins'),
  c('get', '/plugins/newsletter', '/plugins/{slug}'),
  c('get', '/plugins/nope', '/plugins/{slug}'),
  c('get', '/plugins/Bad_Slug', '/plugins/{slug}'),
  c('post', '/plugins', '/plugins', { body: { slug: 'alpha', labelEn: 'Alpha', nav: true } }),
  c('post', '/plugins', '/plugins', { body: { slug: 'alpha' } }),
  c('post', '/plugins', '/plugins', { body: { slug: 'Alpha!', sort: 'x' } }),
  c('post', '/plugins', '/plugins', { raw: '{"slug":', headers: JSON_TYPE }),
  c('post', '/plugins', '/plugins', { raw: 'slug=x', headers: { 'Content-Type': 'text/plain' } }),
  c('post', '/plugins', '/plugins', {
    body: { slug: 'delta', config: { x: 'y'.repeat(300_000) } },
  }),
  c('patch', '/plugins/alpha', '/plugins/{slug}', { body: { sort: 7 } }),
  c('patch', '/plugins/alpha', '/plugins/{slug}', {
    body: { sort: 8 },
    headers: { 'If-Match': '"1"' },
  }),
  c('patch', '/plugins/alpha', '/plugins/{slug}', { body: { labelEn: 'y'.repeat(300_000) } }),
  c('patch', '/plugins/nope', '/plugins/{slug}', { body: { sort: 8 } }),
  c('post', '/plugins/alpha/toggle', '/plugins/{slug}/toggle'),
  c('post', '/plugins/alpha/toggle', '/plugins/{slug}/toggle', { body: { enabled: 'yes' } }),
  c('post', '/plugins/alpha/toggle', '/plugins/{slug}/toggle', { body: { enabled: true } }),
  c('post', '/plugins/alpha/configure', '/plugins/{slug}/configure', {
    body: { a: 1, b: { c: 2 } },
  }),
  c('post', '/plugins/alpha/configure', '/plugins/{slug}/configure', {
    body: { a: 3 },
    headers: { 'If-Match': '1' },
  }),
  c('get', '/nav', '/nav'),
  c('get', '/nav?lang=fr', '/nav'),
  c('put', '/nav/order', '/nav/order', { body: { slugs: ['mail', 'newsletter', 'alpha'] } }),
  c('put', '/nav/order', '/nav/order', {
    body: { slugs: ['mail'] },
    headers: { 'If-Match': 'W/"abc"' },
  }),
  c('put', '/nav/order', '/nav/order', { body: { slugs: ['nope'] } }),
  c('get', '/dashboard', '/dashboard'),
  c('get', '/capabilities', '/capabilities'),
  c('get', '/access', '/access'),
  c('get', '/audit?limit=2', '/audit'),
  c('get', '/audit?limit=0', '/audit'),
  c('get', '/audit?cursor=abc', '/audit'),
  c('get', '/audit', '/audit', { raw: 'x', headers: { 'Content-Type': 'text/plain' } }),
  c('get', '/workflows', '/workflows'),
  c('get', '/workflows/onboarding', '/workflows/{name}'),
  c('get', '/workflows/nope', '/workflows/{name}'),
  c('put', '/workflows/rt', '/workflows/{name}', {
    body: {
      description: 'd',
      steps: [{ id: 'a', capability: 'crm.create', with: { email: '{{input.email}}' } }],
    },
  }),
  c('put', '/workflows/onboarding', '/workflows/{name}', {
    body: { steps: [{ id: 'a', capability: 'crm.create' }] },
  }),
  c('put', '/workflows/rt2', '/workflows/{name}', { body: { steps: 'x' } }),
  c('post', '/workflows/onboarding/run', '/workflows/{name}/run', { body: { email: 'a@b.c' } }),
  c('post', '/workflows/onboarding/run?wait=false', '/workflows/{name}/run', {
    body: { email: 'b@b.c' },
    headers: { 'Idempotency-Key': 'k1' },
  }),
  c('post', '/workflows/onboarding/run', '/workflows/{name}/run', {
    body: { email: 'other@b.c' },
    headers: { 'Idempotency-Key': 'k1' },
  }),
  c('post', '/workflows/nope/run', '/workflows/{name}/run', { body: {} }),
  c('post', '/workflows/rt/run', '/workflows/{name}/run', { body: {} }),
  c('get', '/workflows/runs?limit=1', '/workflows/runs'),
  c('get', '/workflows/runs?limit=0', '/workflows/runs'),
  c('get', '/workflows/runs/00000000-0000-0000-0000-000000000000', '/workflows/runs/{id}'),
  c('delete', '/workflows/onboarding', '/workflows/{name}'),
  c('delete', '/workflows/A', '/workflows/{name}'),
  c('delete', '/workflows/rt', '/workflows/{name}'),
  c('post', '/capabilities/newsletter.send/run', '/capabilities/{slug}/run', {
    body: { subject: 'hi' },
  }),
  c('post', '/capabilities/ops.ping/run', '/capabilities/{slug}/run', { body: {} }),
  c('post', '/capabilities/newsletter.fail/run', '/capabilities/{slug}/run', { body: {} }),
  c('post', '/capabilities/newsletter.loop/run', '/capabilities/{slug}/run', { body: {} }),
  c('post', '/capabilities/no.such/run', '/capabilities/{slug}/run', { body: {} }),
  c('post', '/capabilities/boom.bigint/run', '/capabilities/{slug}/run', { body: {} }),
  c('post', '/capabilities/newsletter.echo/run', '/capabilities/{slug}/run', {
    body: { a: 'x'.repeat(300_000) },
  }),
  c('post', '/plugins/newsletter/toggle', '/plugins/{slug}/toggle', { body: { enabled: false } }),
  c('post', '/capabilities/newsletter.echo/run', '/capabilities/{slug}/run', { body: {} }),
  c('delete', '/plugins/newsletter', '/plugins/{slug}'),
  c('delete', '/plugins/alpha', '/plugins/{slug}', { headers: { 'If-Match': '"1"' } }),
  c('delete', '/plugins/alpha', '/plugins/{slug}'),
  c('delete', '/plugins/alpha', '/plugins/{slug}'),
];

describe('real answers against the OpenAPI document', () => {
  let app: INestApplication;
  let document: OpenAPIObject;
  const ajv = new Ajv({ strict: false, allErrors: true });
  // A CommonJS module whose function is its `default` export under NodeNext typings.
  (ajvFormats as unknown as { default: (ajv: Ajv) => void }).default(ajv);
  const validators = new Map<object, ValidateFunction>();

  beforeAll(async () => {
    app = await createTestApp({
      providers: [...DEFAULT_PROVIDERS, WorkflowSteps],
      controllers: [FixtureController],
      host: { workflows: [ONBOARDING] },
    });
    document = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('t').build());
    ajv.addSchema({ components: document.components }, 'doc');
  });
  afterAll(() => app?.close());

  const validatorOf = (schema: object) => {
    let validate = validators.get(schema);
    if (!validate) {
      const rebased = JSON.parse(
        JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/'),
      ) as object;
      validate = ajv.compile(rebased);
      validators.set(schema, validate);
    }
    return validate as ValidateFunction;
  };

  /** Keys of `value` its schema does not name, with their paths (objects with `properties`). */
  const undocumented = (schema: any, value: unknown, at: string, out: string[]): void => {
    if (!schema || value === null || typeof value !== 'object') return;
    if (schema.$ref) {
      const name = String(schema.$ref).split('/').pop()!;
      return undocumented((document.components!.schemas as any)[name], value, at, out);
    }
    if (Array.isArray(value)) {
      value.slice(0, 3).forEach((item, i) => undocumented(schema.items, item, `${at}[${i}]`, out));
      return;
    }
    if (!schema.properties) return;
    for (const [key, item] of Object.entries(value)) {
      if (!(key in schema.properties)) out.push(`${at}.${key}`);
      else undocumented(schema.properties[key], item, `${at}.${key}`, out);
    }
  };

  it('answers every request with a documented status, body, type and headers', async () => {
    const problems: string[] = [];
    for (const one of CASES) {
      let call = (request(app.getHttpServer()) as any)[one.method](`${API}${one.path}`);
      for (const [name, value] of Object.entries(one.headers ?? {})) call = call.set(name, value);
      if (one.raw !== undefined) call = call.send(one.raw);
      else if (one.body !== undefined) call = call.send(one.body);
      const res = await call;
      const label = `${one.method.toUpperCase()} ${one.path.slice(0, 60)} -> ${res.status}`;
      const operation = (document.paths[`${API}${one.op}`] as any)?.[one.method];
      const documented = operation?.responses?.[String(res.status)];
      if (!documented) {
        problems.push(`${label}: status not documented`);
        continue;
      }
      // An error's code is among those documented for its status.
      if (res.status >= 400 && !String(documented.description).includes(res.body?.code)) {
        problems.push(
          `${label}: code ${res.body?.code} not documented (${documented.description})`,
        );
      }
      for (const name of Object.keys(documented.headers ?? {})) {
        if (res.headers[name.toLowerCase()] === undefined) problems.push(`${label}: no ${name}`);
      }
      const content = documented.content as Record<string, { schema: object }> | undefined;
      if (!content) {
        if (res.status !== 204 && res.text)
          problems.push(`${label}: a body the doc has no content for`);
        continue;
      }
      const [type, { schema }] = Object.entries(content)[0];
      if (!String(res.headers['content-type']).startsWith(type)) {
        problems.push(`${label}: content-type ${res.headers['content-type']}, documented ${type}`);
      }
      const validate = validatorOf(schema);
      if (!validate(res.body)) problems.push(`${label}: ${ajv.errorsText(validate.errors)}`);
      const extra: string[] = [];
      undocumented(schema, res.body, '$', extra);
      if (extra.length) problems.push(`${label}: undocumented ${[...new Set(extra)].join(', ')}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
