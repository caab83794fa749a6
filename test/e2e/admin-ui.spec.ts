import { type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { get, type ClientRequest, type IncomingMessage } from 'node:http';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginHostService, type PluginHostAccess } from '../../lib/index.js';
import { createTestApp, type TestAppOptions } from '../src/app.factory.js';

const API = '/api/plugin-host';
const apps: INestApplication[] = [];
async function boot(options: TestAppOptions = {}) {
  const app = await createTestApp(options);
  apps.push(app);
  return app;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Lets a request through when it carries `x-role`, and remembers it as `request.user`. */
class RoleGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest();
    const role = req.headers['x-role'];
    if (!role) return false;
    req.user = { username: role, role };
    return true;
  }
}

const listenersOf = (app: INestApplication) =>
  (app.get(PluginHostService) as unknown as { listeners: Set<unknown> }).listeners.size;

/** Reads a text/event-stream response as it arrives; `close()` drops the connection. */
async function openStream(url: string) {
  let text = '';
  let ended = false;
  const { client, response } = await new Promise<{
    client: ClientRequest;
    response: IncomingMessage;
  }>((resolve, reject) => {
    const sent = get(url, { agent: false }, (res) => resolve({ client: sent, response: res }));
    sent.on('error', reject);
  });
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => (text += chunk));
  response.on('close', () => (ended = true));
  return {
    status: response.statusCode,
    headers: response.headers,
    text: () => text,
    ended: () => ended,
    async until(predicate: (text: string) => boolean, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(text)) {
        if (Date.now() > deadline) throw new Error(`Stream never matched; got: ${text}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () => void client.destroy(),
  };
}

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}${API}`;
}

describe('GET /ui (the admin page)', () => {
  it('serves the page and its two files, with headers that keep the page to itself', async () => {
    const server = (await boot()).getHttpServer();
    const page = await request(server).get(`${API}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.text).toContain('<script type="module" src="ui/app.js"></script>');
    expect(page.text).toContain('<link rel="stylesheet" href="ui/app.css" />');
    for (const [file, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['app.css', 'text/css; charset=utf-8'],
    ]) {
      const asset = await request(server).get(`${API}/ui/${file}`);
      expect(asset.status).toBe(200);
      expect(asset.headers['content-type']).toBe(type);
      expect(asset.headers['x-content-type-options']).toBe('nosniff');
      expect(asset.headers['cache-control']).toBe('no-cache');
      const again = await request(server)
        .get(`${API}/ui/${file}`)
        .set('if-none-match', asset.headers.etag);
      expect(again.status).toBe(304);
    }
  });

  it('serves nothing else: other names answer the JSON 404 of the API', async () => {
    const server = (await boot()).getHttpServer();
    for (const name of ['index.html', 'app.ts', '..%2Fpackage.json', '.%2Fapp.js', 'APP.JS']) {
      const res = await request(server).get(`${API}/ui/${name}`);
      expect(res.status, name).toBe(404);
      expect(res.body).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    }
  });

  it('sends /ui/ to /ui, where its relative links resolve', async () => {
    // Express routes /ui/ to the page, which redirects; Fastify routes nothing there, and the
    // module's not-found handler redirects a GET with one trailing slash.
    const res = await request((await boot()).getHttpServer()).get(`${API}/ui/?lang=ar`);
    expect({ status: res.status, location: res.headers.location }).toEqual({
      status: 308,
      location: '../ui?lang=ar',
    });
  });

  it('is off with ui: false, while /access and /events stay', async () => {
    const app = await boot({ host: { ui: false } });
    for (const path of ['ui', 'ui/app.js']) {
      const res = await request(app.getHttpServer()).get(`${API}/${path}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({
        statusCode: 404,
        code: 'NOT_FOUND',
        message: `No route GET ${API}/${path}.`,
      });
    }
    expect((await request(app.getHttpServer()).get(`${API}/access`)).status).toBe(200);
    const stream = await openStream(`${await listen(app)}/events`);
    expect(stream.status).toBe(200);
    stream.close();
  });

  it('sits behind the guards, like every read of the API', async () => {
    const app = await boot({ host: { guards: [RoleGuard] } });
    const server = app.getHttpServer();
    for (const path of ['ui', 'ui/app.js', 'access', 'events']) {
      const refused = await request(server).get(`${API}/${path}`);
      expect(refused.status, path).toBe(403);
      expect(refused.body.code).toBe('FORBIDDEN');
    }
    expect((await request(server).get(`${API}/ui`).set('x-role', 'admin')).status).toBe(200);
  });

  it('asks authorize about it as a read', async () => {
    const asked: unknown[] = [];
    const app = await boot({
      host: {
        authorize: ({ action, slug }) => {
          asked.push({ action, slug });
          return false;
        },
      },
    });
    expect((await request(app.getHttpServer()).get(`${API}/ui`)).status).toBe(403);
    expect(asked).toEqual([{ action: 'read', slug: undefined }]);
  });

  it('follows the path option', async () => {
    const app = await boot({ host: { path: '/admin/plugins/' } });
    expect((await request(app.getHttpServer()).get('/admin/plugins/ui')).status).toBe(200);
    expect((await request(app.getHttpServer()).get(`${API}/ui`)).status).toBe(404);
  });
});

/** `GET /access` actions: `read` (which got the caller in) and all others `value`. */
const every = (value: boolean) => ({
  read: true,
  register: value,
  update: value,
  toggle: value,
  configure: value,
  remove: value,
  reorder: value,
  run: value,
  audit: value,
  'workflow.define': value,
  'workflow.remove': value,
  'workflow.run': value,
  'workflow.read': value,
});

describe('GET /access', () => {
  it('without guards: everything with allowAnonymous, reads only without it', async () => {
    const open = await boot();
    expect((await request(open.getHttpServer()).get(`${API}/access`)).body).toEqual({
      actions: every(true),
      plugins: {},
      capabilities: {},
    });
    const closed = await boot({ host: { allowAnonymous: false } });
    expect((await request(closed.getHttpServer()).get(`${API}/access`)).body).toEqual({
      actions: every(false),
      plugins: {},
      capabilities: {},
    });
  });

  it('with guards: what they let through, narrowed by authorize per action and per slug', async () => {
    const app = await boot({
      host: {
        allowAnonymous: false,
        guards: [RoleGuard],
        authorize: ({ action, slug, request: req }) => {
          const role = (req as { user: { role: string } }).user.role;
          if (role === 'admin' || action === 'read') return true;
          if (role !== 'support') return false;
          if (action === 'toggle') return slug !== 'billing';
          if (action === 'run') return slug === 'newsletter.echo';
          return false;
        },
      },
    });
    const server = app.getHttpServer();
    const admin = await request(server).get(`${API}/access`).set('x-role', 'admin');
    expect(admin.body).toEqual({ actions: every(true), plugins: {}, capabilities: {} });
    const support = (await request(server).get(`${API}/access`).set('x-role', 'support'))
      .body as PluginHostAccess;
    expect(support.actions).toEqual({ ...every(false), toggle: true });
    expect(support.plugins).toEqual({ billing: { toggle: false } });
    expect(support.capabilities).toEqual({ 'newsletter.echo': true });
    // The answers match what the API then does.
    const toggle = (slug: string) =>
      request(server).post(`${API}/plugins/${slug}/toggle`).set('x-role', 'support').send({});
    expect((await toggle('billing')).status).toBe(403);
    expect((await toggle('mail')).status).toBe(200);
  });

  it('counts an authorize that throws as a refusal', async () => {
    const app = await boot({
      host: {
        authorize: ({ action }) => {
          if (action === 'remove') throw new Error('boom');
          return true;
        },
      },
    });
    const body = (await request(app.getHttpServer()).get(`${API}/access`)).body;
    expect(body.actions.remove).toBe(false);
    expect(body.actions.toggle).toBe(true);
  });
});

describe('GET /events', () => {
  it('streams every change, local and masked, as server-sent events', async () => {
    const app = await boot();
    const stream = await openStream(`${await listen(app)}/events`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await stream.until((text) => text.includes('retry: 3000'));
    await app.get(PluginHostService).toggle('newsletter', false, { actor: 'alice' });
    await stream.until((text) => text.includes('event: change'));
    const data = stream
      .text()
      .split('\n')
      .find((line) => line.startsWith('data: '))!;
    expect(JSON.parse(data.slice(6))).toMatchObject({
      action: 'disabled',
      slug: 'newsletter',
      actor: 'alice',
      origin: 'local',
      before: { enabled: true },
      after: { enabled: false },
    });
    stream.close();
  });

  it('stops listening when the client leaves', async () => {
    const app = await boot();
    const base = await listen(app);
    const before = listenersOf(app);
    const streams = await Promise.all([openStream(`${base}/events`), openStream(`${base}/events`)]);
    await streams[1].until((text) => text.includes('retry:'));
    await streams[0].until((text) => text.includes('retry:'));
    expect(listenersOf(app)).toBe(before + 2);
    streams[0].close();
    await expect.poll(() => listenersOf(app)).toBe(before + 1);
    streams[1].close();
    await expect.poll(() => listenersOf(app)).toBe(before);
  });

  it('sends a heartbeat comment every 15 s', async () => {
    const app = await boot();
    const base = await listen(app);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const stream = await openStream(`${base}/events`);
    await stream.until((text) => text.includes('retry:'));
    expect(stream.text()).not.toContain(': heartbeat');
    vi.advanceTimersByTime(14_999);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stream.text()).not.toContain(': heartbeat');
    vi.advanceTimersByTime(1);
    await stream.until((text) => text.includes(': heartbeat\n\n'));
    vi.useRealTimers();
    stream.close();
  });

  it('ends open streams when the app closes, so closing does not hang', async () => {
    const app = await boot();
    const stream = await openStream(`${await listen(app)}/events`);
    await stream.until((text) => text.includes('retry:'));
    const started = Date.now();
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(Date.now() - started).toBeLessThan(1_500);
    await expect.poll(stream.ended).toBe(true);
  });
});
