import { describe, expect, it } from 'vitest';
import {
  InMemoryPluginStore,
  InMemoryWorkflowStore,
  PluginStoreFullError,
  type Plugin,
  type WorkflowRun,
} from '../../lib/index.js';

function record(slug: string, version = 1): Plugin {
  const now = new Date();
  return {
    slug,
    kind: 'capability',
    enabled: true,
    config: { nested: { a: 1 } },
    nav: false,
    sort: 0,
    labelEn: null,
    labelAr: null,
    version,
    createdAt: now,
    updatedAt: now,
  };
}

describe('InMemoryPluginStore', () => {
  it('inserts only if absent', async () => {
    const store = new InMemoryPluginStore();
    expect(await store.insert(record('a'))).toBe(true);
    expect(await store.insert({ ...record('a'), enabled: false })).toBe(false);
    expect((await store.get('a'))?.enabled).toBe(true);
  });

  it('insertMany inserts the free slugs and reports each, with their audit entries', async () => {
    const store = new InMemoryPluginStore(3);
    await store.insert(record('a'));
    const audit = (slug: string) => [
      {
        at: new Date().toISOString(),
        actor: 'system',
        action: 'register' as const,
        slug,
        before: null,
        after: { slug },
        instance: 'test',
      },
    ];
    const inserted = await store.insertMany([
      { plugin: { ...record('a'), sort: 9 }, audit: audit('a') },
      { plugin: record('b'), audit: audit('b') },
      { plugin: record('b'), audit: audit('b') },
    ]);
    expect(inserted).toEqual([false, true, false]);
    expect((await store.get('a'))?.sort).toBe(0);
    const page = await store.audit({ limit: 10 });
    expect(page.items.map((entry) => entry.slug)).toEqual(['b']);
    await store.insertMany([{ plugin: record('c') }]);
    await expect(store.insertMany([{ plugin: record('d') }])).rejects.toBeInstanceOf(
      PluginStoreFullError,
    );
  });

  it('shares a frozen config but copies a mutable one, in and out', async () => {
    const store = new InMemoryPluginStore();
    const mutable = record('m');
    await store.insert(mutable);
    (mutable.config.nested as { a: number }).a = 99;
    expect((await store.get('m'))?.config).toEqual({ nested: { a: 1 } });
    const frozen = record('f');
    Object.freeze(frozen.config.nested);
    Object.freeze(frozen.config);
    await store.insert(frozen);
    const out = (await store.get('f'))!;
    // What comes out is the caller's to change, whatever went in.
    (out.config.nested as { a: number }).a = 7;
    expect((await store.get('f'))?.config).toEqual({ nested: { a: 1 } });
    out.createdAt.setTime(0);
    expect((await store.get('f'))?.createdAt.getTime()).not.toBe(0);
  });

  it('refuses new records past its bound and never evicts', async () => {
    const store = new InMemoryPluginStore(2);
    await store.insert(record('a'));
    await store.insert(record('b'));
    await expect(store.insert(record('c'))).rejects.toBeInstanceOf(PluginStoreFullError);
    await expect(store.upsert(record('c'))).rejects.toThrow(/limit of 2/);
    // Replacing an existing record is still allowed at the bound.
    await expect(store.upsert({ ...record('a'), sort: 5 })).resolves.toMatchObject({ sort: 5 });
    expect((await store.all()).map((p) => p.slug).sort()).toEqual(['a', 'b']);
  });

  it('writes all or nothing, each only at the expected version', async () => {
    const store = new InMemoryPluginStore();
    await store.insert(record('a'));
    await store.insert(record('b'));
    const ok = await store.write([
      { next: { ...record('a', 2), sort: 1 }, expectedVersion: 1 },
      { next: { ...record('b', 2), sort: 2 }, expectedVersion: 1 },
    ]);
    expect(ok).toBe(true);
    const stale = await store.write([
      { next: { ...record('a', 3), sort: 9 }, expectedVersion: 2 },
      { next: { ...record('b', 2), sort: 9 }, expectedVersion: 1 },
    ]);
    expect(stale).toBe(false);
    expect((await store.get('a'))?.sort).toBe(1);
    expect((await store.get('b'))?.sort).toBe(2);
  });

  it('writes only while the records it depends on are unchanged', async () => {
    const store = new InMemoryPluginStore();
    for (const slug of ['a', 'b', 'c']) await store.insert(record(slug));
    const move = { next: { ...record('a', 2), sort: 5 }, expectedVersion: 1 };
    expect(await store.write([move], [], { unchanged: [{ slug: 'b', version: 2 }] })).toBe(false);
    expect(await store.write([move], [], { unchanged: [{ slug: 'gone', version: 1 }] })).toBe(
      false,
    );
    expect((await store.get('a'))?.version).toBe(1);
    expect(
      await store.write([move], [], {
        unchanged: [
          { slug: 'b', version: 1 },
          { slug: 'c', version: 1 },
        ],
      }),
    ).toBe(true);
    expect(await store.get('a')).toMatchObject({ version: 2, sort: 5 });
    expect((await store.get('b'))?.version).toBe(1);
  });

  it('deletes conditionally', async () => {
    const store = new InMemoryPluginStore();
    await store.insert(record('a'));
    expect(await store.delete('a', 7)).toBe(false);
    expect(await store.delete('a', 1)).toBe(true);
    expect(await store.delete('a')).toBe(false);
  });

  it('hands out copies, so callers cannot change stored records by reference', async () => {
    const store = new InMemoryPluginStore();
    const original = record('a');
    await store.insert(original);
    (original.config.nested as { a: number }).a = 99;
    const read = (await store.get('a'))!;
    (read.config.nested as { a: number }).a = 42;
    expect((await store.get('a'))!.config).toEqual({ nested: { a: 1 } });
  });
});

describe('InMemoryWorkflowStore', () => {
  function run(id: string, key: string | null, finished = true): WorkflowRun {
    const now = new Date();
    return {
      id,
      workflow: 'w',
      status: finished ? 'succeeded' : 'running',
      input: {},
      state: {},
      currentStep: 0,
      steps: [],
      error: null,
      idempotencyKey: key,
      definition: { name: 'w', steps: [] },
      owner: null,
      heartbeatAt: null,
      actor: 'system',
      version: 1,
      createdAt: now,
      updatedAt: now,
      finishedAt: finished ? now : null,
    };
  }

  it('finds a run by its exact key, and forgets the key of a run it dropped', async () => {
    const store = new InMemoryWorkflowStore(2);
    await store.createRun(run('a', 'Key'));
    expect((await store.createRun(run('b', 'Key'))).id).toBe('a');
    expect((await store.createRun(run('c', 'key'))).id).toBe('c');
    // Past its bound the store drops the oldest finished run, and its key with it.
    await store.createRun(run('d', null));
    expect(await store.getRun('a')).toBeNull();
    expect((await store.createRun(run('e', 'Key'))).id).toBe('e');
    expect((await store.createRun(run('f', 'Key'))).id).toBe('e');
  });
});
