/// <reference lib="dom" />
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PluginHostService } from '../../lib/index.js';
import { DEFAULT_PROVIDERS } from '../src/app.factory.js';
import {
  launchChromium,
  openPage,
  pageErrors,
  screenshot,
  startApp,
  type RunningApp,
} from '../src/browser.js';
import { VaultPlugin } from '../src/plugins.fixture.js';
import { ONBOARDING, WorkflowSteps } from '../src/workflow.fixture.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let browser: Browser;
let running: RunningApp;
const pages: Page[] = [];

async function open(hash = '', options: Parameters<typeof openPage>[3] = {}) {
  const page = await openPage(browser, running.page, hash, options);
  pages.push(page);
  return page;
}

/** axe-core's serious and critical violations in the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await (
      window as unknown as {
        axe: {
          run(): Promise<{
            violations: Array<{
              id: string;
              impact: string;
              nodes: Array<{ target: string[] }>;
            }>;
          }>;
        };
      }
    ).axe.run();
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

const navSlugs = async () =>
  ((await running.api('GET', 'nav')) as Array<{ slug: string }>).map((item) => item.slug);

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
beforeEach(async () => {
  running = await startApp();
  // A plugin with secrets, and one change by someone else, before the page opens.
  await running.api('POST', 'plugins/vault/configure', {
    smtp: { host: 'smtp.example.com', port: 587, password: 'hunter2' },
    apiKey: 'k-123',
  });
  await running.api('POST', 'plugins/mail/toggle', { enabled: false });
});
afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.context().close()));
  await running.app.close();
  const errors = pageErrors.splice(0);
  if (errors.length > 0) throw new AggregateError(errors, 'The page threw');
});

describe('plugins', () => {
  it('lists every plugin with kind, labels, switches and sort, and counts the enabled ones', async () => {
    const page = await open();
    const { counts } = await running.api('GET', 'dashboard');
    expect(counts).toEqual({ total: 8, enabled: 6 });
    expect(await page.textContent('#counts')).toBe('6 of 8 enabled');
    const row = page.locator('#row-newsletter');
    expect(await row.textContent()).toContain('النشرة الإخبارية');
    expect(await row.textContent()).toContain('capability');
    expect(await page.isChecked('#enabled-newsletter')).toBe(true);
    expect(await page.isChecked('#enabled-mail')).toBe(false);
    expect(await page.isChecked('#nav-mail')).toBe(true);
    expect(await page.inputValue('#sort-reports')).toBe('30');
    expect(await page.isVisible('#readonly')).toBe(false);
    await screenshot(page, 'plugins');
  });

  it('a toggle in the page is what the API then reports', async () => {
    const page = await open();
    await page.click('#enabled-newsletter');
    await expect
      .poll(async () => (await running.api('GET', 'plugins/newsletter')).enabled)
      .toBe(false);
    await page.waitForFunction(
      () => document.getElementById('counts')!.textContent === '5 of 8 enabled',
    );
    await page.click('#enabled-mail');
    await expect.poll(async () => (await running.api('GET', 'plugins/mail')).enabled).toBe(true);
  });

  it('changes nav visibility and sort through PATCH', async () => {
    const page = await open();
    await page.click('#nav-reports');
    await expect.poll(async () => (await running.api('GET', 'plugins/reports')).nav).toBe(false);
    await page.fill('#sort-billing', '5');
    await page.press('#sort-billing', 'Enter');
    await expect.poll(async () => (await running.api('GET', 'plugins/billing')).sort).toBe(5);
  });

  it('shows a change made through the API without a reload', async () => {
    const page = await open();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await running.api('POST', 'plugins/newsletter/toggle', { enabled: false });
    await page.waitForFunction(
      () => !(document.getElementById('enabled-newsletter') as HTMLInputElement).checked,
    );
    expect(await page.textContent('#counts')).toBe('5 of 8 enabled');
    await page.waitForFunction(() =>
      document.getElementById('announcer')!.textContent!.includes('newsletter disabled by alice'),
    );
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
  });

  it('falls back to polling when the event stream is unavailable', async () => {
    const page = await open('', {
      live: false,
      before: (p) => p.route('**/events', (route) => route.abort()),
    });
    await page.locator('#live[data-state="polling"]').waitFor();
    expect(await page.textContent('#live')).toBe('Polling every 5 s');
    await running.api('POST', 'plugins/reports/toggle', { enabled: false });
    await page.waitForFunction(
      () => !(document.getElementById('enabled-reports') as HTMLInputElement).checked,
      undefined,
      { timeout: 12_000 },
    );
    expect(await page.textContent('#counts')).toBe('5 of 8 enabled');
  });
});

describe('config editor', () => {
  it("shows the server's validation errors next to the field and stores nothing", async () => {
    const page = await open('#config/vault');
    const before = await running.api('GET', 'plugins/vault');
    const text = await page.inputValue('#config-text');
    expect(JSON.parse(text)).toEqual({
      region: 'eu',
      smtp: { host: 'smtp.example.com', port: 587, password: '********' },
      apiKey: '********',
    });
    // Two violations: the 400 body lists them in `errors`.
    await page.fill(
      '#config-text',
      text.replace('587', '70000').replace('"smtp.example.com"', '5'),
    );
    await page.click('#save-config');
    await page.locator('#config-errors li').nth(1).waitFor();
    const errors = await page.locator('#config-errors li').allTextContents();
    expect(errors).toEqual([
      expect.stringMatching(/^smtp\.host .*string/),
      expect.stringMatching(/^smtp\.port .*65535/),
    ]);
    expect(await page.getAttribute('#config-text', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#config-text', 'aria-describedby')).toContain('config-errors');
    expect(await running.api('GET', 'plugins/vault')).toEqual(before);
    await screenshot(page, 'config-error');

    // Following an error selects its key in the text.
    await page.click('#error-1');
    expect(
      await page.evaluate(() => {
        const area = document.getElementById('config-text') as HTMLTextAreaElement;
        return area.value.slice(area.selectionStart, area.selectionEnd);
      }),
    ).toBe('"port"');

    // One violation: the body has only `message`, shown the same way.
    await page.fill('#config-text', text.replace('587', '0'));
    await page.click('#save-config');
    await page.waitForFunction(() =>
      document.getElementById('config-errors')!.textContent!.includes('must not be less than 1'),
    );
    expect(await page.locator('#config-errors li').allTextContents()).toEqual([
      expect.stringMatching(/^smtp\.port /),
    ]);
    expect((await running.api('GET', 'plugins/vault')).version).toBe(before.version);
  });

  it("lists the body checks' located violations too, and leads to the key", async () => {
    const page = await open('#config/vault');
    const before = await running.api('GET', 'plugins/vault');
    const text = await page.inputValue('#config-text');
    await page.fill(
      '#config-text',
      text.replace('"region": "eu",', '"region": "eu", "__proto__": {"x": 1},'),
    );
    await page.click('#save-config');
    await page.locator('#config-errors li').first().waitFor();
    expect(await page.locator('#config-errors li').allTextContents()).toEqual([
      expect.stringMatching(/^__proto__ Forbidden key at "body\.__proto__"/),
    ]);
    await page.click('#error-0');
    expect(
      await page.evaluate(() => {
        const area = document.getElementById('config-text') as HTMLTextAreaElement;
        return area.value.slice(area.selectionStart, area.selectionEnd);
      }),
    ).toBe('"__proto__"');
    expect(await running.api('GET', 'plugins/vault')).toEqual(before);
  });

  it('saves only what changed, with If-Match, and keeps masked secrets', async () => {
    const page = await open('#config/vault');
    const { version } = await running.api('GET', 'plugins/vault');
    const sent: Array<{ body: unknown; ifMatch?: string }> = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/configure'))
        sent.push({ body: request.postDataJSON(), ifMatch: request.headers()['if-match'] });
    });
    const text = await page.inputValue('#config-text');
    await page.fill('#config-text', text.replace('587', '2525').replace('"region": "eu",', ''));
    await page.press('#config-text', 'Control+Enter');
    await page.waitForFunction(() =>
      document.getElementById('config-status')!.textContent!.startsWith('Saved'),
    );
    expect(sent).toEqual([
      { body: { region: null, smtp: { port: 2525 } }, ifMatch: `"${version}"` },
    ]);
    const stored = running.app.get(PluginHostService).get('vault').config;
    expect(stored).toEqual({
      smtp: { host: 'smtp.example.com', port: 2525, password: 'hunter2' },
      apiKey: 'k-123',
    });
  });

  it('reports a change made elsewhere meanwhile and does not overwrite it', async () => {
    const page = await open('#config/vault');
    const text = await page.inputValue('#config-text');
    await page.fill('#config-text', text.replace('"eu"', '"us"'));
    await running.api('POST', 'plugins/vault/configure', { region: 'ap' });
    await page.waitForFunction(() =>
      document.querySelector('main .note.warn')?.textContent?.includes('Changed elsewhere'),
    );
    await page.click('#save-config');
    await page.waitForFunction(() =>
      document.querySelector('main [role="alert"].note')?.textContent?.includes('reload'),
    );
    expect(await page.textContent('main [role="alert"].note')).toMatch(
      /Changed elsewhere — reload\. It is now at version 3/,
    );
    expect((await running.api('GET', 'plugins/vault')).config.region).toBe('ap');
    // The alert offers the reload, which shows the current config.
    await page.click('main [role="alert"].note #conflict-reload');
    await page.waitForFunction(() =>
      (document.getElementById('config-text') as HTMLTextAreaElement).value.includes('"ap"'),
    );
  });
});

describe('navigation order', () => {
  it('reorders by drag and drop, saves with one request, and GET /nav follows', async () => {
    const page = await open('#navigation');
    expect(await navSlugs()).toEqual(['newsletter', 'reports']);
    await running.api('POST', 'plugins/mail/toggle', { enabled: true });
    await page.waitForFunction(() => document.querySelectorAll('#preview-list li').length === 3);
    const puts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PUT') puts.push(request.postData()!);
    });
    const from = (await page.locator('#nav-item-reports').boundingBox())!;
    const to = (await page.locator('#nav-item-newsletter').boundingBox())!;
    await page.mouse.move(from.x + 40, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(to.x + 40, to.y + 4, { steps: 10 });
    await page.mouse.up();
    const order = () =>
      page
        .locator('#nav-list li')
        .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.slug));
    expect(await order()).toEqual(['reports', 'newsletter', 'mail', 'beta']);
    // The preview shows the sidebar GET /nav will produce, before saving.
    expect(await page.locator('#preview-list li').allTextContents()).toEqual([
      'Reports',
      'Newsletter',
      'Mail',
    ]);
    await screenshot(page, 'navigation');
    await page.click('#save-order');
    await expect.poll(navSlugs).toEqual(['reports', 'newsletter', 'mail']);
    expect(puts).toHaveLength(1);
    // Every plugin is sent; those outside the navigation keep their places.
    expect(JSON.parse(puts[0]).slugs).toEqual([
      'analytics',
      'billing',
      'ops',
      'vault',
      'reports',
      'newsletter',
      'mail',
      'beta',
    ]);
  });

  it('reorders with the keyboard alone, keeping focus on the moved item', async () => {
    const page = await open('#navigation');
    await page.focus('#nav-item-reports');
    await page.keyboard.press('Alt+ArrowUp');
    await page.keyboard.press('Alt+ArrowUp');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('nav-item-reports');
    await page.waitForFunction(() =>
      document.getElementById('announcer')!.textContent!.includes('Reports: position 1 of 4'),
    );
    // The buttons do the same.
    await page.focus('#nav-item-beta');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('up-beta');
    await page.keyboard.press('Enter');
    expect(
      await page
        .locator('#nav-list li')
        .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.slug)),
    ).toEqual(['reports', 'newsletter', 'beta', 'mail']);
    await page.focus('#save-order');
    await page.keyboard.press('Enter');
    await expect.poll(navSlugs).toEqual(['reports', 'newsletter']);
    const sorts = Object.fromEntries(
      ((await running.api('GET', 'plugins')) as Array<{ slug: string; sort: number }>).map((p) => [
        p.slug,
        p.sort,
      ]),
    );
    expect(sorts.reports < sorts.newsletter && sorts.newsletter < sorts.beta).toBe(true);
    expect(sorts.beta < sorts.mail).toBe(true);
  });
});

describe('navigation order, two admins', () => {
  it('saves with If-Match and, when the order changed meanwhile, reloads it instead of overwriting', async () => {
    const page = await open('#navigation');
    const ifMatch: Array<string | undefined> = [];
    page.on('request', (request) => {
      if (request.method() === 'PUT') ifMatch.push(request.headers()['if-match']);
    });
    const seen = (await fetch(`${running.origin}/api/plugin-host/nav`)).headers.get('etag');
    await page.focus('#nav-item-reports');
    await page.keyboard.press('Alt+ArrowUp');
    // Another admin saves an order first; the page shows it live, keeping this draft.
    await running.api('PUT', 'nav/order', { slugs: ['beta', 'newsletter', 'reports'] });
    await page.waitForFunction(() =>
      document.getElementById('announcer')!.textContent!.includes('reordered'),
    );
    await page.click('#save-order');
    await page.waitForFunction(() =>
      document.getElementById('nav-status')!.textContent!.includes('changed elsewhere'),
    );
    expect(ifMatch).toEqual([seen]);
    expect(await navSlugs()).toEqual(['newsletter', 'reports']);
    const order = () =>
      page
        .locator('#nav-list li')
        .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.slug));
    await expect.poll(order).toEqual(['beta', 'newsletter', 'reports', 'mail']);
    expect(await page.isDisabled('#save-order')).toBe(true);
    // Reordering again from the reloaded state goes through.
    await page.focus('#nav-item-reports');
    await page.keyboard.press('Alt+ArrowUp');
    await page.click('#save-order');
    await expect.poll(navSlugs).toEqual(['reports', 'newsletter']);
    expect(ifMatch).toHaveLength(2);
    expect(ifMatch[1]).not.toBe(seen);
  });
});

describe('language', () => {
  it('switches to Arabic: right-to-left, Arabic labels from GET /nav?lang=ar', async () => {
    const page = await open('#navigation');
    await page.click('button[data-lang="ar"]');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl');
    expect(await page.getAttribute('html', 'lang')).toBe('ar');
    await page.getByText('النشرة الإخبارية').first().waitFor();
    expect(await page.locator('#preview-list li').allTextContents()).toEqual([
      'النشرة الإخبارية',
      'التقارير',
    ]);
    expect(await page.getAttribute('#preview-list li >> nth=0', 'dir')).toBe('rtl');
    expect(await page.textContent('.tabs a[href="#plugins"]')).toBe('الإضافات');
    await screenshot(page, 'arabic');
    // The choice survives a reload.
    await page.reload();
    await page.waitForFunction(() => document.documentElement.dir === 'rtl');
  });
});

describe('capabilities', () => {
  it('lists owner and state, runs one with JSON input and shows the output or the error', async () => {
    const page = await open('#capabilities');
    const row = page.locator('tr', { has: page.locator('code', { hasText: 'mail.deliver' }) });
    expect(await row.textContent()).toContain('Disabled');
    await page.click('#run-newsletter\\.echo');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('run-input');
    await page.fill('#run-input', '{ "hello": "world" }');
    await page.click('#run-submit');
    await page.waitForFunction(() =>
      document.getElementById('run-result')!.textContent!.includes('Output: 200'),
    );
    expect(JSON.parse((await page.textContent('#run-result pre'))!)).toEqual({
      input: { hello: 'world' },
      slug: 'newsletter.echo',
      actor: 'anonymous',
      depth: 0,
    });
    await screenshot(page, 'capabilities', true);

    await page.click('#run-mail\\.deliver');
    await page.click('#run-submit');
    await page.waitForFunction(() =>
      document.getElementById('run-result')!.textContent!.includes('409 PLUGIN_DISABLED'),
    );
    expect(JSON.parse((await page.textContent('#run-result pre'))!)).toMatchObject({
      statusCode: 409,
      code: 'PLUGIN_DISABLED',
    });
  });
});

describe('workflows', () => {
  it('lists definitions with their steps and recent runs with per-step status', async () => {
    await running.app.close();
    running = await startApp({
      providers: [...DEFAULT_PROVIDERS, VaultPlugin, WorkflowSteps],
      host: { workflows: [ONBOARDING] },
    });
    const run = await running.api('POST', 'workflows/onboarding/run', { email: 'ada@example.com' });
    expect(run.status).toBe('succeeded');
    const page = await open('#workflows', { bypassCSP: true });
    const definition = page.locator('#workflow-onboarding');
    await definition.waitFor();
    expect(await definition.locator('.meta').textContent()).toContain('code');
    expect(await definition.textContent()).toContain('Create the user, then welcome them');
    expect(await definition.locator('ol.steps li').allTextContents()).toEqual([
      'create → crm.create',
      'welcome → greet.welcome',
    ]);
    const row = page.locator(`#wf-run-${run.id}`);
    expect(await row.locator('.run-status').textContent()).toBe('succeeded');
    expect(await row.locator('td >> nth=0').textContent()).toBe('onboarding');
    expect(await row.locator('ol.steps li').allTextContents()).toEqual([
      'create succeeded attempts: 1',
      'welcome succeeded attempts: 1',
    ]);
    // A second run, after the page opened, appears on top with Refresh, focus kept on the button.
    const second = await running.api('POST', 'workflows/onboarding/run', {
      email: 'bob@example.com',
    });
    await page.focus('#workflows-refresh');
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      (id) => document.querySelector('table.runs tbody tr')?.getAttribute('data-run') === id,
      second.id,
    );
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('workflows-refresh');
    expect(await page.locator('table.runs tbody tr').count()).toBe(2);
    expect(await seriousViolations(page), 'workflows').toEqual([]);
    await page.click('button[data-lang="ar"]');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl');
    // The direction flips at once; the view is drawn again once GET /nav?lang=ar answers.
    await page.waitForFunction(
      () => document.getElementById('view-title')?.textContent === 'سير العمل',
    );
    expect(await row.locator('.run-status').textContent()).toBe('نجح');
    expect(await seriousViolations(page), 'workflows arabic').toEqual([]);
  });
});

describe('audit', () => {
  it('lists changes newest first with actor and a before/after diff', async () => {
    await running.api('POST', 'plugins/newsletter/configure', { from: 'hello@example.com' });
    const page = await open('#audit');
    const first = page.locator('ol.audit > li').first();
    expect(await first.locator('.meta').textContent()).toMatch(/^Configured newsletter by alice/);
    expect(
      await first.locator('table.diff tbody tr', { hasText: 'config.from' }).textContent(),
    ).toBe('config.from"news@example.com""hello@example.com"');
    const second = page.locator('ol.audit > li').nth(1);
    expect(await second.locator('.meta').textContent()).toMatch(/^Toggled mail by alice/);
    // A change from the page itself arrives live, on top.
    await running.api('POST', 'plugins/reports/toggle', { enabled: false });
    await page.waitForFunction(() =>
      document.querySelector('ol.audit > li .meta')?.textContent?.startsWith('Toggled reports'),
    );
    await page.selectOption('#audit-action', 'configure');
    await page.waitForFunction(() => document.querySelectorAll('ol.audit > li').length === 2);
    await page.selectOption('#audit-action', '');
    await page.waitForFunction(() => document.querySelectorAll('ol.audit > li').length > 2);
    await screenshot(page, 'audit');
  });
});

describe('accessibility', () => {
  it('axe-core finds no serious or critical violations in any view, in English and Arabic', async () => {
    const page = await open('', { bypassCSP: true });
    const check = async (label: string) => {
      expect(await seriousViolations(page), label).toEqual([]);
    };
    for (const view of ['config', 'navigation', 'capabilities', 'workflows', 'audit', 'plugins']) {
      await page.evaluate(
        (hash) => (location.hash = hash),
        view === 'config' ? 'config/vault' : view,
      );
      await page.locator(`main[data-view="${view}"] #view-title`).waitFor();
      await check(view);
    }
    // States with messages: a config error, a run result, Arabic.
    await page.evaluate(() => (location.hash = '#config/vault'));
    await page.locator('main[data-view="config"] #config-text').waitFor();
    await page.fill('#config-text', '{ "smtp": { "host": 1, "port": 0 } }');
    await page.click('#save-config');
    await page.locator('#config-errors li').first().waitFor();
    await check('config error');
    await page.click('button[data-lang="ar"]');
    await page.waitForFunction(() => document.documentElement.dir === 'rtl');
    await check('arabic');
  });

  it('works with the keyboard alone, in a logical order, with a visible focus', async () => {
    const page = await open();
    const stops: string[] = [];
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      stops.push(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          return el.id || el.getAttribute('data-lang') || el.getAttribute('href') || el.tagName;
        }),
      );
    }
    expect(stops).toEqual([
      '#main',
      'en',
      'ar',
      '#plugins',
      '#navigation',
      '#capabilities',
      '#workflows',
      '#audit',
      'filter',
      'enabled-analytics',
    ]);
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    expect(outline.style).toBe('solid');
    expect(outline.width).toBeGreaterThanOrEqual(2);
    await page.keyboard.press('Space');
    await expect
      .poll(async () => (await running.api('GET', 'plugins/analytics')).enabled)
      .toBe(false);
    // Into the config editor and back, by keyboard.
    await page.focus('#config-vault');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'view-title');
    expect(await page.textContent('#view-title')).toContain('Config of');
  });
});
