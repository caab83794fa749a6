import type { INestApplication } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { PLUGIN_STORE, PluginHostService, type PluginStore } from '../../lib/index.js';
import { createTestApp } from '../src/app.factory.js';
import { waitFor } from '../src/tcp-proxy.js';

/**
 * A full reload (`refresh()`, a reconnect, a moved fingerprint) reads a snapshot of the table that
 * changes applied meanwhile (notices, local writes) may be newer than; each case holds the
 * snapshot (or a notice's read) to open that window.
 */
const apps: INestApplication[] = [];
async function boot() {
  const app = await createTestApp();
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('two reloads at once', () => {
  it('keeps a plugin registered while the older reload is on its way', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const store = app.get<PluginStore>(PLUGIN_STORE);
    const all = store.all.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    store.all = async () => {
      const rows = await all();
      if (first) {
        first = false;
        await gate;
      }
      return rows;
    };
    const slow = host.refresh(); // snapshot without 'newcomer', held
    await host.refresh(); // same start number, finishes first
    await host.register({ slug: 'newcomer' });
    release();
    await slow;
    store.all = all;
    expect(await store.get('newcomer')).not.toBeNull();
    expect(host.find('newcomer')).toBeDefined();
  });
});
describe('a reload with a change made meanwhile', () => {
  it('keeps a plugin registered while the reload is on its way', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const store = app.get<PluginStore>(PLUGIN_STORE);
    const all = store.all.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.all = async () => {
      const rows = await all();
      await gate;
      return rows;
    };
    const slow = host.refresh();
    await new Promise((r) => setTimeout(r, 20));
    await host.register({ slug: 'newcomer' });
    release();
    await slow;
    store.all = all;
    expect(host.find('newcomer')).toBeDefined();
  });
});
describe('a notice read in flight when a reload starts', () => {
  it('does not keep the older record the resync snapshot has a newer one of', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const store = app.get<PluginStore>(PLUGIN_STORE);
    const base = (await store.get('mail'))!;
    await store.upsert({ ...base, config: { n: 2 }, version: 2 });
    const get = store.get.bind(store);
    let releaseGet!: () => void;
    const getGate = new Promise<void>((r) => (releaseGet = r));
    let reading = false;
    store.get = async (slug: string) => {
      const row = await get(slug); // the store's record as it is now (v2)
      reading = true;
      await getGate;
      return row;
    };
    const applying = host.applyNotice({
      instance: 'other',
      action: 'configured',
      actor: 'x',
      changes: [{ slug: 'mail', version: 2 }],
    });
    await waitFor(() => reading);
    // v3, whose notice this instance missed (hence the resync)
    await store.upsert({ ...base, config: { n: 3 }, version: 3 });
    const all = store.all.bind(store);
    let releaseAll!: () => void;
    const allGate = new Promise<void>((r) => (releaseAll = r));
    let snapshot = false;
    store.all = async () => {
      const rows = await all();
      snapshot = true;
      await allGate;
      return rows;
    };
    const resync = host.refresh();
    await waitFor(() => snapshot);
    releaseGet();
    await applying;
    releaseAll();
    await resync;
    store.get = get;
    store.all = all;
    expect((await store.get('mail'))!.version).toBe(3);
    expect(host.find('mail')).toMatchObject({ version: 3, config: { n: 3 } });
  });
});
