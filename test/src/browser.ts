// Browser-test harness: Debian's Chromium driven by playwright-core, against a real app listening on
// an ephemeral port.
import type { INestApplication } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createTestApp, DEFAULT_PROVIDERS, type TestAppOptions } from './app.factory.js';
import { VaultPlugin } from './plugins.fixture.js';

export const API_PATH = '/api/plugin-host';

/** Where the README's screenshots are written by the test run. */
export const SCREENSHOTS = resolve(import.meta.dirname, '../../docs/screenshots');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** A running app, its base URL, and a JSON client for its API. */
export interface RunningApp {
  app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The admin page. */
  page: string;
  api<T = any>(
    method: string,
    route: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T>;
}

/**
 * Boots the fixture app (memory store, with `VaultPlugin`'s config schema and secrets and two
 * more navigation entries) and listens on 127.0.0.1:0.
 */
export async function startApp(options: TestAppOptions = {}): Promise<RunningApp> {
  const app = await createTestApp({
    providers: [...DEFAULT_PROVIDERS, VaultPlugin],
    ...options,
    host: {
      instanceId: 'instance-a',
      actor: (request: { headers: Record<string, string | undefined> }) =>
        request.headers['x-user'],
      plugins: [
        {
          slug: 'reports',
          kind: 'feature',
          nav: true,
          sort: 30,
          labelEn: 'Reports',
          labelAr: 'التقارير',
        },
        {
          slug: 'beta',
          kind: 'feature',
          enabled: false,
          nav: true,
          sort: 40,
          labelEn: 'Beta dashboard',
          labelAr: 'لوحة تجريبية',
        },
      ],
      ...options.host,
    },
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    origin,
    page: `${origin}${API_PATH}/ui`,
    async api(method, route, body, headers = {}) {
      const response = await fetch(`${origin}${API_PATH}/${route}`, {
        method,
        headers: {
          'x-user': 'alice',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
  };
}

/** Uncaught errors of every page opened by {@link openPage}; tests expect it to stay empty. */
export const pageErrors: Error[] = [];

export interface OpenPageOptions {
  /** Wait until the event stream is connected. @default true */
  live?: boolean;
  /** Run before the page loads, e.g. to route requests. */
  before?: (page: Page) => Promise<unknown>;
  /** Lets a test inject scripts (axe-core) despite the page's Content-Security-Policy. */
  bypassCSP?: boolean;
}

/** Opens the admin page (at `hash`) in a fresh context and waits until it shows a view. */
export async function openPage(
  browser: Browser,
  url: string,
  hash = '',
  options: OpenPageOptions = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    bypassCSP: options.bypassCSP,
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error));
  await options.before?.(page);
  await page.goto(`${url}${hash}`);
  if (options.live !== false) await page.locator('#live[data-state="live"]').waitFor();
  await page.locator('#view-title').waitFor();
  return page;
}

/** Saves `docs/screenshots/<name>.png`: the viewport, or the whole page with `fullPage`. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({
    path: resolve(SCREENSHOTS, `${name}.png`),
    fullPage,
    animations: 'disabled',
    caret: 'hide',
  });
}
