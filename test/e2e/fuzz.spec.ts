import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginHostService } from '../../lib/index.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { VaultPlugin } from '../src/plugins.fixture.js';

const ROUTES: Array<{ method: string; path: (slug: string) => string }> = [
  { method: 'GET', path: () => '/plugins' },
  { method: 'GET', path: (s) => `/plugins/${s}` },
  { method: 'POST', path: () => '/plugins' },
  { method: 'PATCH', path: (s) => `/plugins/${s}` },
  { method: 'DELETE', path: (s) => `/plugins/${s}` },
  { method: 'POST', path: (s) => `/plugins/${s}/toggle` },
  { method: 'POST', path: (s) => `/plugins/${s}/configure` },
  { method: 'PUT', path: () => '/nav/order' },
  { method: 'GET', path: (s) => `/nav?lang=${s}` },
  { method: 'GET', path: () => '/dashboard' },
  { method: 'GET', path: () => '/capabilities' },
  { method: 'POST', path: (s) => `/capabilities/${s}/run` },
  { method: 'GET', path: (s) => `/audit?slug=${s}&limit=${s}` },
];

const slug = fc.oneof(
  fc.constantFrom('mail', 'newsletter', 'vault', 'billing', 'mail.deliver', 'newsletter.fail'),
  fc.constantFrom('newsletter.loop', 'billing.charge', 'vault.reveal', 'nope', 'nav', 'x.y.z'),
  fc.constantFrom('..', '%2F', '%2e%2e', 'nеwsletter', "a';drop table plugins;--", '__proto__'),
  fc.constantFrom('constructor', 'MAIL', ' mail', 'mail%00', '%F0%9F%92%A3', 'a'.repeat(300)),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
);

const hostileKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'enabled',
  'slug',
  'config',
);
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 3 }),
    tie('object'),
  ),
  object: fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 8 })), tie('value'), {
    maxKeys: 4,
  }),
}));

const body = fc.oneof(
  fc.constant(undefined),
  jsonish.value.map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        slug,
        enabled: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)),
        sort: fc.oneof(fc.integer(), fc.double(), fc.string()),
        labelEn: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(null)),
        config: jsonish.value,
        slugs: fc.array(slug, { maxLength: 5 }),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '{"__proto__":{"polluted":1}}',
    '{"a":{"constructor":{"prototype":{"polluted":1}}}}',
    '[]',
    'null',
    '"x"',
    '{',
    '{"a":1}}',
  ),
);

const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/merge-patch+json',
      'application/json; charset=latin1',
    ),
    'if-match': fc.oneof(
      fc.constantFrom('"1"', 'W/"2"', '*', '"999"', 'garbage', '""'),
      fc.stringMatching(/^[ -~]{0,20}$/),
    ),
    'x-user': fc.stringMatching(/^[ -~]{0,40}$/),
  },
  { requiredKeys: [] },
);

/** A 5xx is acceptable only as a capability's own failure on the run route. */
const CAPABILITY_FAILURES = new Set(['CAPABILITY_FAILED', 'CAPABILITY_TIMEOUT', 'CAPABILITY_LOOP']);

describe('fuzzing every route', () => {
  let app: INestApplication;
  let base: string;
  beforeAll(async () => {
    app = await createTestApp({
      providers: [...DEFAULT_PROVIDERS, VaultPlugin],
      host: { capabilityTimeoutMs: 200 },
    });
    await app.listen(0, '127.0.0.1');
    base = `${await app.getUrl()}/api/plugin-host`.replace('[::1]', '127.0.0.1');
  });
  afterAll(() => app?.close());

  it('never answers a 5xx of its own, never crashes, and changes nothing on a 4xx', async () => {
    const host = app.get(PluginHostService);
    const state = () => JSON.stringify({ plugins: host.list(), capabilities: host.capabilities() });
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ROUTES.length - 1),
        slug,
        body,
        headers,
        async (route, s, payload, h) => {
          cases++;
          const { method, path } = ROUTES[route];
          const before = state();
          const response = await fetch(`${base}${path(s)}`, {
            method,
            headers: h as Record<string, string>,
            body: method === 'GET' || method === 'DELETE' ? undefined : payload,
          });
          const text = await response.text();
          const json = text
            ? (JSON.parse(text) as { statusCode?: number; code?: string })
            : undefined;
          if (response.status >= 500) {
            expect(path(s)).toMatch(/\/run$/);
            expect(CAPABILITY_FAILURES.has(String(json?.code))).toBe(true);
          }
          if (response.status >= 400) {
            expect(json).toMatchObject({ statusCode: response.status, code: expect.any(String) });
            expect(state()).toBe(before);
          }
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.prototype).not.toHaveProperty('polluted');
        },
      ),
      { numRuns: 2500, seed: Number(process.env.FUZZ_SEED ?? 20261125) },
    );
    expect(cases).toBe(2500);
    // The app is still healthy after all of it.
    expect((await fetch(`${base}/plugins`)).status).toBe(200);
  }, 120_000);
});
