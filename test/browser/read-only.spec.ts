/// <reference lib="dom" />
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, pageErrors, startApp, type RunningApp } from '../src/browser.js';

/** Every control in the page that would change something, if enabled. */
const MUTATION_CONTROLS = [
  'input[role="switch"]',
  'input[id^="nav-"]',
  'input.sort',
  '#save-config',
  '#discard-config',
  '#save-order',
  '#reset-order',
  '[id^="up-"]',
  '[id^="down-"]',
  '[id^="run-"]:not(#run-input):not(#run-result)',
  '#run-submit',
].join(', ');

const enabledMutationControls = (page: Page) =>
  page.$$eval(MUTATION_CONTROLS, (els) =>
    els.filter((el) => !(el as HTMLButtonElement).disabled).map((el) => el.id),
  );

let browser: Browser;
let running: RunningApp | undefined;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.context().close()));
  await running?.app.close();
  running = undefined;
  const errors = pageErrors.splice(0);
  if (errors.length > 0) throw new AggregateError(errors, 'The page threw');
});

async function open(hash: string) {
  const page = await openPage(browser, running!.page, hash);
  pages.push(page);
  return page;
}

describe('a user without mutation rights', () => {
  it('sees every view read-only, with no enabled control that would change anything', async () => {
    // No guards and allowAnonymous off: reads are open, every change answers 403.
    running = await startApp({ host: { allowAnonymous: false } });
    const page = await open('#plugins');
    expect(await page.isVisible('#readonly')).toBe(true);
    expect(await page.locator('input[role="switch"]').count()).toBe(8);
    expect(await enabledMutationControls(page)).toEqual([]);

    await page.click('#config-vault');
    await page.locator('main[data-view="config"] #config-text').waitFor();
    expect(await page.getAttribute('#config-text', 'readonly')).not.toBeNull();
    expect(await page.textContent('#view-title')).toContain('Config of');
    expect(await enabledMutationControls(page)).toEqual([]);

    for (const view of ['navigation', 'capabilities']) {
      await page.click(`.tabs a[href="#${view}"]`);
      await page.locator(`main[data-view="${view}"]`).waitFor();
      expect(await enabledMutationControls(page), view).toEqual([]);
    }
    expect(await page.locator('[id^="run-"]').count()).toBeGreaterThan(0);
    expect(await page.locator('#nav-list li[tabindex]').count()).toBe(0);

    await page.click('.tabs a[href="#audit"]');
    await page.getByText('You may not read the audit log.').waitFor();

    // Workflow definitions are open; their runs (inputs, outputs, errors) are not.
    await page.click('.tabs a[href="#workflows"]');
    await page.getByText('You may not read workflow runs.').waitFor();
    expect(await page.locator('#definitions-title').isVisible()).toBe(true);
  });

  it('gets per-plugin controls where authorize allows them', async () => {
    running = await startApp({
      host: {
        authorize: ({ action, slug }) =>
          action === 'read' ||
          (action === 'toggle' && slug === 'newsletter') ||
          (action === 'run' && slug === 'newsletter.echo'),
      },
    });
    const page = await open('#plugins');
    expect(await page.isVisible('#readonly')).toBe(false);
    expect(await enabledMutationControls(page)).toEqual(['enabled-newsletter']);
    await page.click('.tabs a[href="#capabilities"]');
    await page.locator('main[data-view="capabilities"]').waitFor();
    expect(await enabledMutationControls(page)).toEqual(['run-newsletter.echo']);
    await page.click('.tabs a[href="#plugins"]');
    await page.locator('main[data-view="plugins"]').waitFor();
    await page.click('#enabled-newsletter');
    await expect
      .poll(async () => (await running!.api('GET', 'plugins/newsletter')).enabled)
      .toBe(false);
  });
});
