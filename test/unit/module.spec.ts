import { describe, expect, it } from 'vitest';
import {
  InMemoryPluginStore,
  PLUGIN_HOST_OPTIONS,
  PLUGIN_STORE,
  PluginHostModule,
  PluginHostService,
} from '../../lib/index.js';
import { resolvePluginHostOptions } from '../../lib/plugin-host.options.js';

describe('PluginHostModule shape', () => {
  it('is global, mounts the controller at the default path and imports TypeORM by default', () => {
    const module = PluginHostModule.forRoot();
    expect(module.global).toBe(true);
    // The REST API and the admin page, both under the default path.
    expect(module.controllers).toHaveLength(2);
    for (const controller of module.controllers!) {
      expect(Reflect.getMetadata('path', controller)).toBe('api/plugin-host');
    }
    expect(module.imports).toHaveLength(1); // TypeOrmModule.forFeature([Plugin])
    expect(module.exports).toContain(PLUGIN_STORE);
    expect(Reflect.getMetadata('exports', PluginHostModule)).toContain(PluginHostService);
  });

  it('needs no TypeORM with the memory store, and mounts nothing with path: false', () => {
    const module = PluginHostModule.forRoot({ store: 'memory', path: false, isGlobal: false });
    expect(module.global).toBe(false);
    expect(module.controllers).toEqual([]);
    expect(module.imports).toEqual([]);
  });

  it('keeps shape settings out of the options token', () => {
    const module = PluginHostModule.forRoot({ store: 'memory', path: 'x', allowAnonymous: true });
    const options = (module.providers as Array<{ provide: unknown; useValue?: unknown }>).find(
      (p) => p.provide === PLUGIN_HOST_OPTIONS,
    );
    expect(options?.useValue).toEqual({ allowAnonymous: true });
  });

  it('accepts a PluginStore instance and refuses anything else', () => {
    const store = new InMemoryPluginStore(3);
    const module = PluginHostModule.forRoot({ store });
    const provider = (module.providers as Array<{ provide: unknown; useValue?: unknown }>).find(
      (p) => p.provide === PLUGIN_STORE,
    );
    expect(provider?.useValue).toBe(store);
    expect(() => PluginHostModule.forRoot({ store: 'redis' as never })).toThrow(/store must be/);
  });

  it('applies shape settings given to forRootAsync', () => {
    const module = PluginHostModule.forRootAsync({
      store: 'memory',
      path: 'admin',
      useFactory: () => ({}),
    });
    expect(module.imports).toEqual([]);
    expect(Reflect.getMetadata('path', module.controllers![0])).toBe('admin');
  });
});

describe('option defaults', () => {
  it('are merged in one place', () => {
    expect(resolvePluginHostOptions(undefined)).toEqual({
      memoryLimit: 10_000,
      guards: [],
      allowAnonymous: false,
      authorize: undefined,
      plugins: [],
      maxConfigBytes: 262_144,
      maxJsonDepth: 32,
      maxJsonKeys: 10_000,
      maxBodyBytes: 262_144,
      capabilityTimeoutMs: 30_000,
      syncIntervalMs: 5_000,
      notify: true,
      redis: undefined,
      syncChannel: 'plugin_host_changes',
      instanceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      forceDisabled: new Set(),
      tracing: 'auto',
      workflows: [],
      workflowStaleMs: 30_000,
      workflowHeartbeatMs: 5_000,
      workflowRecoveryMs: 10_000,
      workflowWaitMs: 300_000,
      ui: true,
      bindSecrets: true,
    });
    expect(resolvePluginHostOptions({ memoryLimit: 5, allowAnonymous: true })).toMatchObject({
      memoryLimit: 5,
      allowAnonymous: true,
    });
  });
});
