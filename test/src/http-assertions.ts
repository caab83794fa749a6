import type request from 'supertest';
import { expect } from 'vitest';

/** The camelCase fields of a plugin's JSON form, sorted. */
export const PLUGIN_FIELDS = [
  'config',
  'createdAt',
  'enabled',
  'kind',
  'labelAr',
  'labelEn',
  'nav',
  'slug',
  'sort',
  'updatedAt',
  'version',
];

/** The stores the REST suites run every case on. */
export const STORE_SETUPS = [
  { name: 'the memory store', sqlite: false },
  { name: 'SQLite (better-sqlite3)', sqlite: true },
];

/** Asserts the JSON error body every failing route must answer. */
export function expectError(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.body).toMatchObject({ statusCode: status, code });
  expect(typeof res.body.message).toBe('string');
  expect(res.body.message.length).toBeGreaterThan(0);
}
