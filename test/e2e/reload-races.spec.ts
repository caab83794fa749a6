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

/**
 * Holds the next `times` results of `store.all()` (the snapshot is read, not handed over) until
 * `release()`; `taken()` tells whether one was read. `restore()` puts the store back.
 */
function holdSnapshots(store: PluginStore, times = Number.POSITIVE_INFINITY) {
  const all = store.all.bind(store);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  store.all = async () => {
    const rows = await all();
    if (held++ < times) await gate;
    return rows;
  };
  return { release, taken: () => held > 0, restore: () => (store.all = all) };
}

describe('two reloads at once', () => {
  it('keeps a plugin registered while the older reload is on its way', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const store = app.get<PluginStore>(PLUGIN_STORE);
    const snapshots = holdSnapshots(store, 1);
    const slow = host.refresh(); // snapshot without 'newcomer', held
    await host.refresh(); // same start number, finishes first
    await host.register({ slug: 'newcomer' });
    snapshots.release();
    await slow;
    snapshots.restore();
    expect(await store.get('newcomer')).not.toBeNull();
    expect(host.find('newcomer')).toBeDefined();
  });
});

describe('a reload with a change made meanwhile', () => {
  it('keeps a plugin registered while the reload is on its way', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    const store = app.get<PluginStore>(PLUGIN_STORE);
    const snapshots = holdSnapshots(store);
    const slow = host.refresh();
    await waitFor(snapshots.taken);
    await host.register({ slug: 'newcomer' });
    snapshots.release();
    await slow;
    snapshots.restore();
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
    const snapshots = holdSnapshots(store);
    const resync = host.refresh();
    await waitFor(snapshots.taken);
    releaseGet();
    await applying;
    snapshots.release();
    await resync;
    store.get = get;
    snapshots.restore();
    expect((await store.get('mail'))!.version).toBe(3);
    expect(host.find('mail')).toMatchObject({ version: 3, config: { n: 3 } });
  });
});
