import swc from 'unplugin-swc';
import { configDefaults, defineConfig } from 'vitest/config';

// The e2e suite runs once per HTTP adapter (`HTTP_ADAPTER`, read by test/src/app.factory.ts), so a
// failure names its project: `|express|` or `|fastify|`. Unit tests boot no HTTP server: once. The
// parity spec boots both adapters itself, and the store spec uses none: once.
const E2E = 'test/e2e/**/*.spec.ts';
const ONCE = ['test/e2e/adapter-parity.spec.ts', 'test/e2e/typeorm-store.spec.ts'];

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.spec.ts'] } },
      {
        extends: true,
        test: { name: 'express', include: [E2E], env: { HTTP_ADAPTER: 'express' } },
      },
      {
        extends: true,
        test: {
          name: 'fastify',
          include: [E2E],
          exclude: [...configDefaults.exclude, ...ONCE],
          env: { HTTP_ADAPTER: 'fastify' },
        },
      },
      // The packed tarball installed into fresh ESM and CommonJS apps: once.
      { extends: true, test: { name: 'package', include: ['test/package/**/*.spec.ts'] } },
      // The admin page in Debian's Chromium (playwright-core), once, on Express.
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.spec.ts'] } },
    ],
  },
  oxc: false,
  plugins: [swc.vite({ module: { type: 'es6' } })],
});
