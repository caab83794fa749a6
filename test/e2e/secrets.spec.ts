import { Injectable, Logger, type INestApplication } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsOptional, IsString, ValidateNested } from 'class-validator';
import { EventEmitter2 } from '@nestjs/event-emitter';
import Database from 'better-sqlite3';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Capability,
  HostedPlugin,
  PluginHostService,
  Secret,
  SECRET_MASK,
  type PluginChangeEvent,
} from '../../lib/index.js';
import { SecretCipher } from '../../lib/secret-cipher.util.js';
import { createTestApp, DEFAULT_PROVIDERS } from '../src/app.factory.js';
import { createSqliteDatabase, type TestDatabase } from '../src/databases.js';
import { VaultPlugin } from '../src/plugins.fixture.js';

const API = '/api/plugin-host';
const apps: INestApplication[] = [];
async function boot(options: Parameters<typeof createTestApp>[0] = {}) {
  const app = await createTestApp({ providers: [...DEFAULT_PROVIDERS, VaultPlugin], ...options });
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** The `configured` events `app` emits from now on. */
function configuredEvents(app: INestApplication): PluginChangeEvent[] {
  const events: PluginChangeEvent[] = [];
  app
    .get(EventEmitter2)
    .on('plugin-host.plugin.configured', (e: PluginChangeEvent) => events.push(e));
  return events;
}

describe('config schemas', () => {
  it('refuses a config that breaks the schema with every violation listed, and writes nothing', async () => {
    const app = await boot();
    const http = () => request(app.getHttpServer());
    const before = (await http().get(`${API}/plugins/vault`)).body;
    const res = await http()
      .post(`${API}/plugins/vault/configure`)
      .send({ smtp: { host: 42, port: 70000 }, region: 5, extra: true });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('config.smtp.host'),
        expect.stringContaining('config.smtp.port'),
        expect.stringContaining('config.region'),
        expect.stringContaining('extra'),
      ]),
    );
    expect((await http().get(`${API}/plugins/vault`)).body).toEqual(before);
  });

  it('validates the merged result, so a valid partial patch passes', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    await host.configure('vault', { smtp: { host: 'mx', port: 25 } });
    await expect(host.configure('vault', { smtp: { port: 587 } })).resolves.toMatchObject({
      config: { smtp: { host: 'mx', port: 587 } },
    });
    await expect(host.configure('vault', { smtp: { host: null } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });
});

class Account {
  @IsString() user!: string;
  @Secret() @IsString() password!: string;
}
class TeamConfig {
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => Account)
  accounts?: Account[];

  /** Accounts by shift: an array of arrays, which class-validator walks with `each`. */
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => Account)
  shifts?: Account[][];
}
/** Secrets in the elements of an array: `accounts[].password`. */
@HostedPlugin({ slug: 'team', configSchema: TeamConfig })
@Injectable()
class TeamPlugin {
  @Capability('team.passwords')
  passwords(_input: unknown, ctx: { plugin: { config: TeamConfig } }) {
    return (ctx.plugin.config.accounts ?? []).map((account) => account.password);
  }
}

describe('secrets in arrays', () => {
  const bootTeam = (options: Parameters<typeof createTestApp>[0] = {}) =>
    boot({ providers: [...DEFAULT_PROVIDERS, TeamPlugin], ...options });

  it('masks the secret of every element everywhere, and the capability gets the values', async () => {
    const app = await bootTeam();
    const events = configuredEvents(app);
    const http = () => request(app.getHttpServer());
    const configured = await http()
      .post(`${API}/plugins/team/configure`)
      .send({
        accounts: [
          { user: 'ada', password: 'hunter2' },
          { user: 'bob', password: 'pw-b' },
        ],
      });
    expect(configured.status).toBe(200);
    const masked = {
      accounts: [
        { user: 'ada', password: SECRET_MASK },
        { user: 'bob', password: SECRET_MASK },
      ],
    };
    expect(configured.body.config).toEqual(masked);
    expect((await http().get(`${API}/plugins/team`)).body.config).toEqual(masked);
    const audit = await http().get(`${API}/audit?slug=team`);
    expect(JSON.stringify([audit.body, events])).not.toMatch(/hunter2|pw-b/);
    const run = await http().post(`${API}/capabilities/team.passwords/run`).send({});
    expect(run.body.output).toEqual(['hunter2', 'pw-b']);
  });

  it('keeps each stored secret when the masked array comes back, and refuses a mask with none behind it', async () => {
    const app = await bootTeam();
    const host = app.get(PluginHostService);
    const http = () => request(app.getHttpServer());
    await host.configure('team', { accounts: [{ user: 'ada', password: 'hunter2' }] });
    const shown = (await http().get(`${API}/plugins/team`)).body.config;
    // The admin adds an account: the array comes back whole, the first password masked.
    const added = await http()
      .post(`${API}/plugins/team/configure`)
      .send({ accounts: [...shown.accounts, { user: 'bob', password: 'pw-b' }] });
    expect(added.status).toBe(200);
    expect(host.configValue('team', 'accounts')).toEqual([
      { user: 'ada', password: 'hunter2' },
      { user: 'bob', password: 'pw-b' },
    ]);
    const orphan = await http()
      .post(`${API}/plugins/team/configure`)
      .send({
        accounts: [
          { user: 'eve', password: 'x' },
          { user: 'ada', password: 'x' },
          { user: 'cy', password: SECRET_MASK },
        ],
      });
    expect(orphan.status).toBe(400);
    expect(orphan.body.details).toEqual([
      { path: 'config.accounts[2].password', message: expect.stringMatching(/mask/) },
    ]);
    expect(host.configValue('team', 'accounts')).toHaveLength(2);
  });

  it('never hands one element the secret of another when elements are removed or reordered', async () => {
    const app = await bootTeam();
    const host = app.get(PluginHostService);
    const http = () => request(app.getHttpServer());
    const configure = (body: object) => http().post(`${API}/plugins/team/configure`).send(body);
    await host.configure('team', {
      accounts: [
        { user: 'ada', password: 'pw-ada' },
        { user: 'bob', password: 'pw-bob' },
        { user: 'cy', password: 'pw-cy' },
      ],
    });
    const shown = (await http().get(`${API}/plugins/team`)).body.config.accounts;
    // ada removed, the others swapped: each keeps its own password.
    expect((await configure({ accounts: [shown[2], shown[1]] })).status).toBe(200);
    expect(host.configValue('team', 'accounts')).toEqual([
      { user: 'cy', password: 'pw-cy' },
      { user: 'bob', password: 'pw-bob' },
    ]);
    // A renamed account no longer is the stored one: its mask stands for nothing.
    const renamed = await configure({ accounts: [{ user: 'cyrus', password: SECRET_MASK }] });
    expect(renamed.status).toBe(400);
    expect(renamed.body.details[0].path).toBe('config.accounts[0].password');
    expect(host.configValue('team', 'accounts')).toHaveLength(2);
  });

  it('masks, restores and encrypts secrets in arrays of arrays', async () => {
    const app = await bootTeam();
    const host = app.get(PluginHostService);
    const http = () => request(app.getHttpServer());
    const res = await http()
      .post(`${API}/plugins/team/configure`)
      .send({
        shifts: [[{ user: 'ada', password: 'hunter2' }], [{ user: 'bob', password: 'pw-b' }]],
      });
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).not.toMatch(/hunter2|pw-b/);
    expect(res.body.config.shifts).toEqual([
      [{ user: 'ada', password: SECRET_MASK }],
      [{ user: 'bob', password: SECRET_MASK }],
    ]);
    const back = await http()
      .post(`${API}/plugins/team/configure`)
      .send({ shifts: [...res.body.config.shifts, [{ user: 'cy', password: 'pw-c' }]] });
    expect(back.status).toBe(200);
    expect(host.configValue('team', 'shifts')).toEqual([
      [{ user: 'ada', password: 'hunter2' }],
      [{ user: 'bob', password: 'pw-b' }],
      [{ user: 'cy', password: 'pw-c' }],
    ]);
  });

  it('encrypts the secret of every element at rest', async () => {
    const db = await createSqliteDatabase();
    const key = { id: 'k1', key: Buffer.alloc(32, 3).toString('base64') };
    try {
      let app = await bootTeam({ database: db.options, host: { encryptionKeys: [key] } });
      await app.get(PluginHostService).configure('team', {
        accounts: [
          { user: 'ada', password: 'hunter2' },
          { user: 'bob', password: 'pw-b' },
        ],
      });
      const sqlite = new Database(String(db.options.database), { readonly: true });
      const row = sqlite.prepare("SELECT config FROM plugins WHERE slug = 'team'").get() as {
        config: string;
      };
      sqlite.close();
      const stored = JSON.parse(row.config) as {
        accounts: Array<{ user: string; password: string }>;
      };
      expect(stored.accounts.map((a) => a.user)).toEqual(['ada', 'bob']);
      for (const account of stored.accounts) expect(account.password).toMatch(/^enc:v2:k1:/);
      await app.close();
      app = await bootTeam({ database: db.options, host: { encryptionKeys: [key] } });
      expect(app.get(PluginHostService).configValue('team', 'accounts')).toEqual([
        { user: 'ada', password: 'hunter2' },
        { user: 'bob', password: 'pw-b' },
      ]);
    } finally {
      await db.drop();
    }
  });
});

describe('secrets', () => {
  it('masks secrets in every response and event, while the capability gets the real value', async () => {
    const app = await boot();
    const events = configuredEvents(app);
    const http = () => request(app.getHttpServer());
    const configured = await http()
      .post(`${API}/plugins/vault/configure`)
      .send({
        apiKey: 'sk-live-123',
        smtp: { host: 'mx', port: 25, password: 'hunter2' },
        legacy: { token: 't0k' },
      });
    expect(configured.status).toBe(200);
    const masked = {
      apiKey: SECRET_MASK,
      smtp: { host: 'mx', port: 25, password: SECRET_MASK },
      legacy: { token: SECRET_MASK },
      region: 'eu',
    };
    expect(configured.body.config).toEqual(masked);
    expect((await http().get(`${API}/plugins/vault`)).body.config).toEqual(masked);
    const listed = (await http().get(`${API}/plugins`)).body.find(
      (p: { slug: string }) => p.slug === 'vault',
    );
    expect(listed.config).toEqual(masked);
    const dashboard = (await http().get(`${API}/dashboard`)).body.plugins.find(
      (p: { slug: string }) => p.slug === 'vault',
    );
    expect(dashboard.config).toEqual(masked);
    expect(JSON.stringify(events)).not.toMatch(/hunter2|sk-live|t0k/);
    expect(events[0].after!.config).toEqual(masked);

    const revealed = await http().post(`${API}/capabilities/vault.reveal/run`).send({});
    expect(revealed.body.output).toMatchObject({
      apiKey: 'sk-live-123',
      smtp: { password: 'hunter2' },
    });
    expect(app.get(PluginHostService).configValue('vault', 'smtp.password')).toBe('hunter2');
  });

  it('keeps the stored secret when a client sends the mask back', async () => {
    const app = await boot();
    const host = app.get(PluginHostService);
    await host.configure('vault', {
      apiKey: 'sk-1',
      smtp: { host: 'mx', port: 25, password: 'pw' },
    });
    const shown = (await request(app.getHttpServer()).get(`${API}/plugins/vault`)).body.config;
    const res = await request(app.getHttpServer())
      .post(`${API}/plugins/vault/configure`)
      .send({ ...shown, region: 'us' });
    expect(res.status).toBe(200);
    expect(host.configValue('vault', 'apiKey')).toBe('sk-1');
    expect(host.configValue('vault', 'smtp.password')).toBe('pw');
    expect(host.configValue('vault', 'region')).toBe('us');
  });
});

describe('secrets encrypted at rest', () => {
  let db: TestDatabase;
  const key1 = { id: 'k1', key: Buffer.alloc(32, 1).toString('base64') };
  const key2 = { id: 'k2', key: Buffer.alloc(32, 2).toString('hex') };
  const rawConfig = (slug = 'vault') => {
    const sqlite = new Database(String(db.options.database), { readonly: true });
    try {
      const row = sqlite.prepare('SELECT config FROM plugins WHERE slug = ?').get(slug) as {
        config: string;
      };
      return JSON.parse(row.config) as Record<string, unknown>;
    } finally {
      sqlite.close();
    }
  };
  /** What someone with write access to the table (and no key) does: rewrites a config row. */
  const writeRawConfig = (slug: string, config: Record<string, unknown>) => {
    const sqlite = new Database(String(db.options.database));
    try {
      sqlite
        .prepare('UPDATE plugins SET config = ? WHERE slug = ?')
        .run(JSON.stringify(config), slug);
    } finally {
      sqlite.close();
    }
  };
  beforeAll(async () => {
    db = await createSqliteDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('stores only ciphertext, reads it back on restart, and survives a key rotation', async () => {
    let app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    await app.get(PluginHostService).configure('vault', { apiKey: 'sk-secret', region: 'eu' });
    expect(String(rawConfig().apiKey)).toMatch(/^enc:v2:k1:/);
    expect(JSON.stringify(rawConfig())).not.toContain('sk-secret');
    expect(rawConfig().region).toBe('eu');
    await app.close();

    app = await boot({ database: db.options, host: { encryptionKeys: [key2, key1] } });
    expect(app.get(PluginHostService).configValue('vault', 'apiKey')).toBe('sk-secret');
    await expect(app.get(PluginHostService).reencryptSecrets()).resolves.toBe(1);
    expect(String(rawConfig().apiKey)).toMatch(/^enc:v2:k2:/);
    await app.close();

    app = await boot({ database: db.options, host: { encryptionKeys: [key2] } });
    expect(app.get(PluginHostService).configValue('vault', 'apiKey')).toBe('sk-secret');
  });

  it('keeps the secrets of plugins declared in the plugins option sealed across a restart', async () => {
    const host = { encryptionKeys: [key1], plugins: [{ slug: 'crm', secrets: ['apiKey'] }] };
    let app = await boot({ database: db.options, host });
    await app.get(PluginHostService).configure('crm', { apiKey: 'sk-first' });
    expect(String(rawConfig('crm').apiKey)).toMatch(/^enc:v2:k1:/);
    await app.close();

    // The first load after a restart used to run before these declarations were known: it left
    // the ciphertext undecrypted, and the next write stored and answered the secret in clear.
    app = await boot({ database: db.options, host });
    const service = app.get(PluginHostService);
    expect(service.configValue('crm', 'apiKey')).toBe('sk-first');
    const answer = await request(app.getHttpServer())
      .post(`${API}/plugins/crm/configure`)
      .send({ apiKey: 'sk-second' });
    expect(answer.status).toBe(200);
    expect(answer.body.config.apiKey).toBe(SECRET_MASK);
    expect(String(rawConfig('crm').apiKey)).toMatch(/^enc:v2:k1:/);
    expect(JSON.stringify(rawConfig('crm'))).not.toContain('sk-second');
    expect(service.configValue('crm', 'apiKey')).toBe('sk-second');
  });

  it('refuses a secret value that looks encrypted, and changes nothing', async () => {
    const app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    const service = app.get(PluginHostService);
    await service.configure('vault', { apiKey: 'sk-kept' });
    const before = rawConfig();
    const answer = await request(app.getHttpServer())
      .post(`${API}/plugins/vault/configure`)
      .send({ apiKey: 'enc:v1:k1:AA:AA:AA', smtp: { host: 'mx', port: 25, password: 'enc:v2:x' } });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('VALIDATION_FAILED');
    expect(answer.body.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'config.apiKey',
      'config.smtp.password',
    ]);
    expect(rawConfig()).toEqual(before);
    expect(service.configValue('vault', 'apiKey')).toBe('sk-kept');
    // A value that only contains the mark is an ordinary secret.
    await service.configure('vault', { apiKey: 'my enc:v1: key' });
    expect(service.configValue('vault', 'apiKey')).toBe('my enc:v1: key');
  });

  it('decrypts every secret it can when one stored value does not decrypt', async () => {
    let app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    await app
      .get(PluginHostService)
      .configure('vault', { apiKey: 'sk-apikey', smtp: { host: 'mx', port: 25, password: 'pw' } });
    await app.close();
    // Someone with write access to the table spoils one value.
    writeRawConfig('vault', { ...rawConfig(), apiKey: 'enc:v1:k1:AA:AA:AA' });
    app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    const service = app.get(PluginHostService);
    expect(service.configValue('vault', 'smtp.password')).toBe('pw');
    expect(String(service.configValue('vault', 'apiKey'))).toMatch(/^enc:v1:/);
    // A rotation cannot rewrite it, and says so rather than letting the key be dropped blindly.
    const errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      await service.reencryptSecrets();
      expect(errors.mock.calls.map(([message]) => String(message))).toEqual([
        expect.stringMatching(/Secret "apiKey" of plugin "vault" is still under key "k1"/),
      ]);
    } finally {
      errors.mockRestore();
    }
  });

  it('binds each ciphertext to its plugin and path: moved elsewhere, it does not decrypt', async () => {
    const host = { encryptionKeys: [key1], plugins: [{ slug: 'crm', secrets: ['apiKey'] }] };
    let app = await boot({ database: db.options, host });
    const service = app.get(PluginHostService);
    await service.configure('vault', {
      apiKey: 'sk-vault',
      smtp: { host: 'mx', port: 25, password: 'pw' },
    });
    await service.configure('crm', { apiKey: 'sk-crm' });
    await app.close();
    // Someone with write access to the table copies vault's API key into crm, and into vault's
    // SMTP password, where a capability might reveal it.
    const sealed = String(rawConfig().apiKey);
    expect(sealed).toMatch(/^enc:v2:k1:/);
    const vault = rawConfig();
    (vault.smtp as Record<string, unknown>).password = sealed;
    writeRawConfig('vault', vault);
    writeRawConfig('crm', { ...rawConfig('crm'), apiKey: sealed });
    app = await boot({ database: db.options, host });
    const after = app.get(PluginHostService);
    expect(after.configValue('vault', 'apiKey')).toBe('sk-vault');
    expect(after.configValue('vault', 'smtp.password')).toBe(sealed);
    expect(after.configValue('crm', 'apiKey')).toBe(sealed);
  });

  it('still reads the unbound values of the first release, and rewrites them bound', async () => {
    let app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    await app.get(PluginHostService).configure('vault', { apiKey: 'placeholder' });
    await app.close();
    const legacy = new SecretCipher([key1]).encrypt('sk-legacy');
    expect(legacy).toMatch(/^enc:v1:k1:/);
    writeRawConfig('vault', { ...rawConfig(), apiKey: legacy });
    app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    const service = app.get(PluginHostService);
    expect(service.configValue('vault', 'apiKey')).toBe('sk-legacy');
    await service.reencryptSecrets();
    expect(String(rawConfig().apiKey)).toMatch(/^enc:v2:k1:/);
    expect(service.configValue('vault', 'apiKey')).toBe('sk-legacy');
  });

  it('seals unbound with bindSecrets: false, and unwraps what a first-release instance re-sealed', async () => {
    let app = await boot({
      database: db.options,
      host: { encryptionKeys: [key1], bindSecrets: false },
    });
    await app.get(PluginHostService).configure('vault', { apiKey: 'sk-unbound' });
    expect(String(rawConfig().apiKey)).toMatch(/^enc:v1:k1:/);
    await app.close();
    // During a rolling upgrade, an instance of the first release read an enc:v2 value as plain
    // text and sealed it again as enc:v1.
    const cipher = new SecretCipher([key1]);
    const wrapped = cipher.encrypt(cipher.encrypt('sk-bound', { slug: 'vault', path: 'apiKey' }));
    writeRawConfig('vault', { ...rawConfig(), apiKey: wrapped });
    app = await boot({ database: db.options, host: { encryptionKeys: [key1] } });
    expect(app.get(PluginHostService).configValue('vault', 'apiKey')).toBe('sk-bound');
    // The first release took a client's secret that merely starts like a sealed value: it is the
    // secret itself, not something to unwrap.
    const lookalike = cipher.open(
      { apiKey: cipher.encrypt('enc:v2:hunter2') },
      ['apiKey'],
      'vault',
    );
    expect(lookalike.apiKey).toBe('enc:v2:hunter2');
  });

  it('re-encrypts the secrets inside arrays too', async () => {
    let app = await boot({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, TeamPlugin],
      host: { encryptionKeys: [key1] },
    });
    await app
      .get(PluginHostService)
      .configure('team', { accounts: [{ user: 'a', password: 'pw-a' }] });
    await app.close();
    app = await boot({
      database: db.options,
      providers: [...DEFAULT_PROVIDERS, TeamPlugin],
      host: { encryptionKeys: [key2, key1] },
    });
    const service = app.get(PluginHostService);
    await service.reencryptSecrets();
    const stored = rawConfig('team') as { accounts: Array<{ password: string }> };
    expect(stored.accounts[0].password).toMatch(/^enc:v2:k2:/);
  });

  it('refuses a ciphertext whose authentication tag is cut short', () => {
    const cipher = new SecretCipher([key1]);
    const sealed = cipher.encrypt('top-secret');
    expect(cipher.decrypt(sealed)).toBe('top-secret');
    const [id, iv, tag, body] = sealed.slice('enc:v1:'.length).split(':');
    for (const bytes of [4, 12, 15]) {
      const short = Buffer.from(tag, 'base64').subarray(0, bytes).toString('base64');
      expect(() => cipher.decrypt(`enc:v1:${id}:${iv}:${short}:${body}`)).toThrow(/16 bytes/);
    }
  });

  it('refuses a key that is not 32 bytes at boot', async () => {
    await expect(
      boot({ database: db.options, host: { encryptionKeys: [{ id: 'bad', key: 'c2hvcnQ=' }] } }),
    ).rejects.toThrow(/not 32 bytes/);
  });
});
