import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Capability,
  CapabilityTimeoutError,
  PluginHostModule,
  PluginHostService,
  type CapabilityContext,
} from '../../lib/index.js';
import { queuedTimeLimits } from '../../lib/plugin-host.service.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Sleeps, or rejects with the signal's reason (clearing its timer) once the signal aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * Timers set through the global `setTimeout` (as the library and the probes do) since the file
 * started, and not yet fired or cleared. Not the process's timer count: vitest's own timers (task
 * reports, RPC) come and go in the middle of a test, and made that count flaky.
 */
const live = new Set<unknown>();
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
beforeAll(() => {
  globalThis.setTimeout = Object.assign(
    (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const handle = realSetTimeout(
        (...given: unknown[]) => {
          live.delete(handle);
          callback(...given);
        },
        ms,
        ...args,
      );
      live.add(handle);
      return handle;
    },
    realSetTimeout,
  ) as typeof setTimeout;
  globalThis.clearTimeout = ((handle?: Parameters<typeof clearTimeout>[0]) => {
    live.delete(handle);
    realClearTimeout(handle);
  }) as typeof clearTimeout;
});
afterAll(() => {
  globalThis.setTimeout = realSetTimeout;
  globalThis.clearTimeout = realClearTimeout;
});
const timers = () => live.size;

/** Capabilities that look at `ctx.signal` at different moments of a guarded run. */
@Injectable()
class SignalProbe {
  seen: Array<{ aborted: boolean; reason: unknown }> = [];
  listened: unknown[] = [];

  @Capability('probe.late')
  async late(input: { ms: number }, ctx: CapabilityContext) {
    await sleep(input.ms);
    // Read only after the deadline passed: the signal must already be aborted.
    this.seen.push({ aborted: ctx.signal!.aborted, reason: ctx.signal!.reason });
    return 'late';
  }

  @Capability('probe.listen')
  listen(_input: unknown, ctx: CapabilityContext) {
    return new Promise((_, reject) => {
      ctx.signal!.addEventListener('abort', () => {
        this.listened.push(ctx.signal!.reason);
        reject(ctx.signal!.reason);
      });
    });
  }

  @Capability('probe.throws')
  throws(): never {
    throw new Error('thrown before any await');
  }

  @Capability('probe.parent')
  async parent(input: { ms: number }, ctx: CapabilityContext) {
    return ctx.run('probe.child', input);
  }

  @Capability('probe.child')
  async child(input: { ms: number }, ctx: CapabilityContext) {
    await sleep(input.ms);
    return ctx.signal?.aborted ?? 'no signal';
  }

  @Capability('probe.quick')
  quick(input: { n: number }) {
    return input.n + 1;
  }

  /** Lets every `probe.held` run finish. */
  release!: () => void;
  readonly #gate = new Promise<void>((resolve) => (this.release = resolve));

  @Capability('probe.held')
  async held() {
    await this.#gate;
    return 'released';
  }

  @Capability('probe.busy')
  async busy(input: { busyMs: number; ms: number }, ctx: CapabilityContext) {
    // Holds the event loop before its first await, so the run's turn ends late.
    const until = performance.now() + input.busyMs;
    while (performance.now() < until);
    // Stops sleeping when the run times out: a sleep left pending would still count as a timer in
    // the tests that come after, which count timers.
    await sleepUnlessAborted(input.ms, ctx.signal);
    return 'done';
  }
}

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    PluginHostModule.forRoot({ store: 'memory', path: false }),
  ],
  providers: [SignalProbe],
})
class ProbeModule {}

const contexts: INestApplicationContext[] = [];
async function boot() {
  const app = await NestFactory.createApplicationContext(ProbeModule, { logger: false });
  contexts.push(app);
  return { host: app.get(PluginHostService), probe: app.get(SignalProbe) };
}
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((app) => app.close()));
});

describe('guarded runs (a time limit or a caller signal)', () => {
  it('rejects at the deadline, and a signal first read after it is already aborted', async () => {
    const { host, probe } = await boot();
    await expect(
      host.runCapability('probe.late', { ms: 60 }, { timeoutMs: 20 }),
    ).rejects.toBeInstanceOf(CapabilityTimeoutError);
    await sleep(80);
    expect(probe.seen).toHaveLength(1);
    expect(probe.seen[0].aborted).toBe(true);
    expect(probe.seen[0].reason).toBeInstanceOf(CapabilityTimeoutError);
  });

  it('aborts a signal read before the deadline, with the timeout as its reason', async () => {
    const { host, probe } = await boot();
    await expect(host.runCapability('probe.listen', {}, { timeoutMs: 20 })).rejects.toBeInstanceOf(
      CapabilityTimeoutError,
    );
    expect(probe.listened).toHaveLength(1);
    expect(probe.listened[0]).toBeInstanceOf(CapabilityTimeoutError);
  });

  it("forwards the caller's abort, and refuses a signal that is already aborted", async () => {
    const { host, probe } = await boot();
    const controller = new AbortController();
    const pending = host.runCapability('probe.listen', {}, { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(pending).rejects.toThrow('caller gave up');
    expect(probe.listened).toEqual([new Error('caller gave up')]);
    await expect(
      host.runCapability('probe.quick', { n: 1 }, { signal: controller.signal }),
    ).rejects.toThrow('caller gave up');
  });

  it('turns a synchronous throw into a rejection and reports it as a failure', async () => {
    const { host } = await boot();
    const failures: unknown[] = [];
    const emitter = contexts[0].get(EventEmitter2);
    emitter.on('plugin-host.capability.failed', (event: unknown) => failures.push(event));
    await expect(host.runCapability('probe.throws', {}, { timeoutMs: 1_000 })).rejects.toThrow(
      'thrown before any await',
    );
    expect(failures).toHaveLength(1);
  });

  it('resolves with the value and leaves no timer behind', async () => {
    const { host } = await boot();
    const before = timers();
    await expect(host.runCapability('probe.quick', { n: 41 }, { timeoutMs: 60_000 })).resolves.toBe(
      42,
    );
    // A 60 s timer left pending would keep the process alive for a minute.
    expect(timers()).toBe(before);
  });

  it('creates no timer for a run that settles before the turn of the event loop ends', async () => {
    const { host } = await boot();
    const before = timers();
    const run = host.runCapability('probe.quick', { n: 1 }, { timeoutMs: 60_000 });
    await Promise.resolve();
    expect(timers()).toBe(before);
    await expect(run).resolves.toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBe(before);
  });

  it('keeps the deadline counted from the start of the run when its timer is armed late', async () => {
    const { host } = await boot();
    // 200 ms busy before the turn ends, then 150 ms asleep: the 250 ms limit runs out while asleep.
    // Counted from when the timer is armed, it would run out at 450 ms, after the run finished.
    await expect(
      host.runCapability('probe.busy', { busyMs: 200, ms: 150 }, { timeoutMs: 250 }),
    ).rejects.toBeInstanceOf(CapabilityTimeoutError);
    // Past the deadline by the end of the turn: it fails then, without waiting for the capability.
    const late = performance.now();
    await expect(
      host.runCapability('probe.busy', { busyMs: 30, ms: 2_000 }, { timeoutMs: 10 }),
    ).rejects.toBeInstanceOf(CapabilityTimeoutError);
    expect(performance.now() - late).toBeLessThan(1_000);
  });

  it('clears the timer of a run that outlived its turn once it settles', async () => {
    const { host } = await boot();
    const before = timers();
    const run = host.runCapability('probe.busy', { busyMs: 0, ms: 30 }, { timeoutMs: 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    // The capability's own sleep and the run's time limit.
    expect(timers()).toBe(before + 2);
    await expect(run).resolves.toBe('done');
    expect(timers()).toBe(before);
  });

  it('keeps only the runs still going queued while a loop awaits guarded runs without yielding', async () => {
    const { host } = await boot();
    const before = timers();
    const slow = host.runCapability('probe.busy', { busyMs: 0, ms: 2_000 }, { timeoutMs: 50 });
    // Each run settles within microtasks, so the turn (and its `setImmediate`) never ends meanwhile.
    let longest = 0;
    for (let n = 0; n < 5_000; n++) {
      await host.runCapability('probe.quick', { n }, { timeoutMs: 60_000 });
      longest = Math.max(longest, queuedTimeLimits());
    }
    expect(longest).toBeLessThanOrEqual(1_024);
    // The run still going was kept: its time limit is armed once the turn ends, and applies.
    const started = performance.now();
    await expect(slow).rejects.toBeInstanceOf(CapabilityTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(queuedTimeLimits()).toBe(0);
    // The capability stopped sleeping when it timed out, so no timer is left to fire during the
    // next test, which counts timers.
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBe(before);
  });

  it('keeps every run still going when thousands start in one turn', async () => {
    const { host, probe } = await boot();
    const before = timers();
    const runs = Array.from({ length: 3_000 }, () =>
      host.runCapability('probe.held', {}, { timeoutMs: 60_000 }),
    );
    expect(queuedTimeLimits()).toBe(3_000);
    await new Promise((resolve) => setImmediate(resolve));
    // All armed at the end of the turn, none twice.
    expect(timers()).toBe(before + 3_000);
    probe.release();
    await expect(Promise.all(runs)).resolves.toHaveLength(3_000);
    expect(timers()).toBe(before);
    expect(queuedTimeLimits()).toBe(0);
  });

  it("shows a nested run its parent's signal", async () => {
    const { host } = await boot();
    await expect(
      host.runCapability('probe.parent', { ms: 40 }, { timeoutMs: 10 }),
    ).rejects.toBeInstanceOf(CapabilityTimeoutError);
    await expect(host.runCapability('probe.parent', { ms: 1 }, { timeoutMs: 1_000 })).resolves.toBe(
      false,
    );
    await expect(host.runCapability('probe.parent', { ms: 1 })).resolves.toBe('no signal');
  });
});

describe('capability failure events reach every kind of listener', () => {
  async function bootWith(wildcard: boolean) {
    @Module({
      imports: [
        EventEmitterModule.forRoot({ wildcard }),
        PluginHostModule.forRoot({ store: 'memory', path: false }),
      ],
      providers: [SignalProbe],
    })
    class FailureModule {}
    const app = await NestFactory.createApplicationContext(FailureModule, { logger: false });
    contexts.push(app);
    return { host: app.get(PluginHostService), emitter: app.get(EventEmitter2) };
  }

  it.each([false, true])('with wildcard %s: onAny, then a named listener', async (wildcard) => {
    const { host, emitter } = await bootWith(wildcard);
    const seen: string[] = [];
    // No listener: the failure is not intercepted, and still rejects.
    await expect(host.runCapability('probe.throws')).rejects.toThrow('thrown before any await');
    const any = (name: string | string[]) => seen.push(`any:${String(name)}`);
    emitter.onAny(any);
    await expect(host.runCapability('probe.throws')).rejects.toThrow('thrown before any await');
    expect(seen).toEqual(['any:plugin-host.capability.failed']);
    emitter.offAny(any);
    emitter.on(wildcard ? 'plugin-host.capability.*' : 'plugin-host.capability.failed', () =>
      seen.push('named'),
    );
    await expect(host.runCapability('probe.throws')).rejects.toThrow('thrown before any await');
    expect(seen).toEqual(['any:plugin-host.capability.failed', 'named']);
  });
});
