import { Injectable, Module, type CanActivate, type INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Capability,
  DuplicateCapabilityError,
  HostedPlugin,
  PluginHostModule,
  PluginHostService,
  PLUGIN_HOST_OPTIONS,
  type PluginHostModuleOptions,
} from '../../lib/index.js';
import { createTestApp, initTestApp } from '../src/app.factory.js';
import {
  BillingService,
  MailPlugin,
  NewsletterPlugin,
  ScopedPlugin,
} from '../src/plugins.fixture.js';

const API = '/api/plugin-host';
const apps: INestApplication[] = [];
async function track(app: Promise<INestApplication>): Promise<INestApplication> {
  const started = await app;
  apps.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('capability discovery', () => {
  it('finds capabilities on providers and controllers and resolves each owner', async () => {
    const app = await track(createTestApp());
    const host = app.get(PluginHostService);
    const owners = Object.fromEntries(host.capabilities().map((c) => [c.slug, c.plugin]));
    expect(owners).toEqual({
      'billing.charge': 'billing', // implied by the slug: no @HostedPlugin on BillingService
      'mail.deliver': 'mail', // @HostedPlugin
      'newsletter.echo': 'newsletter',
      'newsletter.fail': 'newsletter',
      'newsletter.loop': 'newsletter',
      'newsletter.send': 'newsletter',
      'newsletter.teapot': 'newsletter',
      'ops.ping': 'ops', // declared on a controller
      'reports.daily': 'analytics', // the `plugin` option wins
    });
    // Owners without a @HostedPlugin get a record: enabled, no nav, kind capability.
    for (const slug of ['billing', 'analytics', 'ops']) {
      expect(host.get(slug)).toMatchObject({ enabled: true, nav: false, kind: 'capability' });
    }
    await expect(host.runCapability('ops.ping')).resolves.toBe('pong');
  });

  it('calls the method on the instance at each run, so a spy set after boot sees the call', async () => {
    const app = await track(createTestApp());
    const host = app.get(PluginHostService);
    const spy = vi.spyOn(app.get(NewsletterPlugin), 'echo').mockReturnValue('spied' as never);
    await expect(host.runCapability('newsletter.echo', { n: 1 })).resolves.toBe('spied');
    expect(spy).toHaveBeenCalledWith(
      { n: 1 },
      expect.objectContaining({ slug: 'newsletter.echo' }),
    );
    spy.mockRestore();
    await expect(host.runCapability('newsletter.echo', { n: 2 })).resolves.toMatchObject({
      input: { n: 2 },
    });
  });

  it('registers a provider once when a useExisting alias points at it', async () => {
    const app = await track(
      createTestApp({
        providers: [
          NewsletterPlugin,
          MailPlugin,
          { provide: 'NEWSLETTER_ALIAS', useExisting: NewsletterPlugin },
        ],
        controllers: [],
      }),
    );
    const slugs = app
      .get(PluginHostService)
      .capabilities()
      .map((c) => c.slug);
    expect(slugs.filter((s) => s === 'newsletter.send')).toHaveLength(1);
  });

  it('finds capabilities on factory and value providers by their instance class', async () => {
    const app = await track(
      createTestApp({
        providers: [
          MailPlugin,
          { provide: 'FACTORY_BILLING', useFactory: () => new BillingService() },
        ],
        controllers: [],
      }),
    );
    await expect(
      app.get(PluginHostService).runCapability('billing.charge', { amount: 5 }),
    ).resolves.toEqual({ charged: 5 });
  });

  it('refuses a duplicate capability slug at boot, naming both declarations', async () => {
    @Injectable()
    class SecondMailer {
      @Capability('mail.deliver')
      deliver() {
        return 'second';
      }
    }
    const boot = createTestApp({ providers: [MailPlugin, SecondMailer], controllers: [] });
    await expect(boot).rejects.toBeInstanceOf(DuplicateCapabilityError);
    await expect(boot).rejects.toThrow(/MailPlugin\.deliver.*SecondMailer\.deliver/);
  });

  it('refuses a malformed capability slug when the class is declared', () => {
    expect(() => {
      class Bad {
        @Capability('Bad Slug')
        run() {}
      }
      return Bad;
    }).toThrow(/Invalid capability slug/);
    expect(() => HostedPlugin({ slug: '-nope' })).toThrow(/Invalid plugin slug/);
  });

  it('resolves a request-scoped host per call, bound to the HTTP request', async () => {
    const app = await track(
      createTestApp({ providers: [MailPlugin, ScopedPlugin], controllers: [] }),
    );
    const http = request(app.getHttpServer());
    const first = await http
      .post(`${API}/capabilities/scoped.whoami/run`)
      .set('x-user', 'alice')
      .send({});
    const second = await request(app.getHttpServer())
      .post(`${API}/capabilities/scoped.whoami/run`)
      .set('x-user', 'bob')
      .send({});
    expect(first.status).toBe(200);
    expect(first.body.output.header).toBe('alice');
    expect(second.body.output.header).toBe('bob');
    expect(second.body.output.instance).not.toBe(first.body.output.instance);
    // From code, without a request: a fresh instance with no request attached.
    const fromCode = await app
      .get(PluginHostService)
      .runCapability<unknown, { header: unknown }>('scoped.whoami');
    expect(fromCode.header).toBeNull();
  });

  it('is refused while its owner is disabled, and runs again once enabled', async () => {
    const app = await track(createTestApp());
    const host = app.get(PluginHostService);
    await host.disable('billing');
    await expect(host.runCapability('billing.charge', { amount: 1 })).rejects.toMatchObject({
      code: 'PLUGIN_DISABLED',
    });
    await host.enable('billing');
    await expect(host.runCapability('billing.charge', { amount: 1 })).resolves.toEqual({
      charged: 1,
    });
    await expect(host.runCapability('nope.nothing')).rejects.toMatchObject({
      code: 'CAPABILITY_NOT_FOUND',
    });
  });

  it('stops a capability chain that calls itself', async () => {
    const app = await track(createTestApp());
    await expect(app.get(PluginHostService).runCapability('newsletter.loop', {})).rejects.toThrow(
      /levels deep/,
    );
  });

  it('registers capabilities at runtime and creates their owner', async () => {
    const app = await track(createTestApp());
    const host = app.get(PluginHostService);
    const info = await host.registerCapability(
      { slug: 'crm.sync', description: 'Syncs' },
      (input: { n: number }) => input.n * 2,
    );
    expect(info).toEqual({ slug: 'crm.sync', plugin: 'crm', enabled: true, description: 'Syncs' });
    expect(host.get('crm').enabled).toBe(true);
    await expect(host.runCapability('crm.sync', { n: 21 })).resolves.toBe(42);
    await expect(host.registerCapability('crm.sync', () => 0)).rejects.toBeInstanceOf(
      DuplicateCapabilityError,
    );
  });
});

describe('module options', () => {
  it('takes async options from useFactory with injected dependencies', async () => {
    @Module({ providers: [{ provide: 'ANON', useValue: true }], exports: ['ANON'] })
    class ConfigModule {}
    @Module({
      imports: [
        PluginHostModule.forRootAsync({
          store: 'memory',
          imports: [ConfigModule],
          inject: ['ANON'],
          useFactory: (anon: boolean): PluginHostModuleOptions => ({
            allowAnonymous: anon,
            plugins: [{ slug: 'from-factory', kind: 'feature', nav: true, labelEn: 'Factory' }],
          }),
        }),
      ],
      providers: [MailPlugin],
    })
    class AppModule {}
    const app = await track(bootModule(AppModule));
    expect(app.get(PLUGIN_HOST_OPTIONS)).toMatchObject({ allowAnonymous: true });
    await request(app.getHttpServer()).post(`${API}/plugins/mail/toggle`).expect(200);
    expect(app.get(PluginHostService).get('from-factory').kind).toBe('feature');
  });

  it('takes async options from useClass', async () => {
    @Injectable()
    class HostOptions {
      createPluginHostOptions(): PluginHostModuleOptions {
        return { allowAnonymous: false, memoryLimit: 5 };
      }
    }
    @Module({
      imports: [PluginHostModule.forRootAsync({ store: 'memory', useClass: HostOptions })],
      providers: [MailPlugin],
    })
    class AppModule {}
    const app = await track(bootModule(AppModule));
    const denied = await request(app.getHttpServer()).post(`${API}/plugins/mail/toggle`);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('FORBIDDEN');
    const host = app.get(PluginHostService);
    for (let i = 0; i < 4; i++) await host.register({ slug: `p${i}` });
    await expect(host.register({ slug: 'one-too-many' })).rejects.toMatchObject({
      code: 'STORE_FULL',
      status: 507,
    });
    expect(host.find('one-too-many')).toBeUndefined();
  });

  it('mounts the API at a custom path, or nowhere with path: false', async () => {
    const custom = await track(createTestApp({ host: { path: '/admin/plugins/' } }));
    await request(custom.getHttpServer()).get('/admin/plugins/plugins').expect(200);
    await request(custom.getHttpServer()).get(`${API}/plugins`).expect(404);
    const none = await track(createTestApp({ host: { path: false } }));
    await request(none.getHttpServer()).get(`${API}/plugins`).expect(404);
    expect(none.get(PluginHostService).isEnabled('mail')).toBe(true);
  });

  it('works without an event emitter', async () => {
    const app = await track(createTestApp({ events: false }));
    const host = app.get(PluginHostService);
    expect(() => app.get(EventEmitter2)).toThrow(/could not find/);
    await expect(host.toggle('mail')).resolves.toMatchObject({ enabled: false });
    await expect(host.runCapability('newsletter.fail')).rejects.toThrow('hunter2');
  });

  it('keeps two apps in one process apart', async () => {
    const [a, b] = await Promise.all([track(createTestApp()), track(createTestApp())]);
    await a.get(PluginHostService).disable('mail');
    expect(a.get(PluginHostService).isEnabled('mail')).toBe(false);
    expect(b.get(PluginHostService).isEnabled('mail')).toBe(true);
    await a.get(PluginHostService).registerCapability('solo.only', () => 'a');
    expect(
      b
        .get(PluginHostService)
        .capabilities()
        .map((c) => c.slug),
    ).not.toContain('solo.only');
  });

  it('resolves class guards through DI and accepts guard instances', async () => {
    @Injectable()
    class HeaderGuard implements CanActivate {
      canActivate(context: import('@nestjs/common').ExecutionContext) {
        return context.switchToHttp().getRequest().headers['x-admin'] === 'yes';
      }
    }
    const instance: CanActivate = {
      canActivate: (context) => context.switchToHttp().getRequest().headers['x-tenant'] !== 'evil',
    };
    const app = await track(
      createTestApp({
        host: { allowAnonymous: false, guards: [HeaderGuard, instance] },
        providers: [MailPlugin, HeaderGuard],
        controllers: [],
      }),
    );
    const http = () => request(app.getHttpServer());
    expect((await http().get(`${API}/plugins`)).status).toBe(403);
    expect((await http().get(`${API}/plugins`).set('x-admin', 'yes')).status).toBe(200);
    expect(
      (
        await http()
          .post(`${API}/plugins/mail/toggle`)
          .set('x-admin', 'yes')
          .set('x-tenant', 'evil')
      ).status,
    ).toBe(403);
    expect((await http().post(`${API}/plugins/mail/toggle`).set('x-admin', 'yes')).status).toBe(
      200,
    );
  });
});

async function bootModule(module: new () => unknown): Promise<INestApplication> {
  return initTestApp(await Test.createTestingModule({ imports: [module] }).compile());
}
