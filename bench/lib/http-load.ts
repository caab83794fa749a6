import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Percentiles } from './stats.js';

/** One autocannon run against a loopback URL. */
export interface LoadJob {
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  /** Bounded duration; ignored when `amount` is given. */
  seconds?: number;
  /** Stop after this many requests instead. */
  amount?: number;
}

export interface LoadResult {
  /** 2xx responses. */
  requests: number;
  /** Non-2xx responses, errors and timeouts. */
  failed: number;
  perSecond: number;
  seconds: number;
  /** Milliseconds, 2xx responses only. */
  latency: Percentiles;
  /**
   * CPU time this process (the server's, when the app runs in the bench process) spent per 2xx
   * response, in microseconds. Less disturbed than req/s by other work on a shared machine.
   */
  cpuMicros: number;
}

/** A forked autocannon process: the client gets its own core, the server keeps the other. */
export class LoadGenerator {
  private next = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: Omit<LoadResult, 'cpuMicros'>) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly child: ChildProcess) {
    child.on(
      'message',
      (message: { id: number; result?: Omit<LoadResult, 'cpuMicros'>; error?: string }) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.result!);
      },
    );
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`load generator exited with ${code}`));
      }
      this.pending.clear();
    });
  }

  static start(): LoadGenerator {
    const script = fileURLToPath(new URL('./loadgen.js', import.meta.url));
    return new LoadGenerator(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  async run(job: LoadJob): Promise<LoadResult> {
    const id = this.next++;
    const cpu = process.cpuUsage();
    const result = await new Promise<Omit<LoadResult, 'cpuMicros'>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, job });
    });
    const used = process.cpuUsage(cpu);
    return { ...result, cpuMicros: (used.user + used.system) / Math.max(1, result.requests) };
  }

  stop(): void {
    this.child.kill();
  }
}

/** Refuses to aim load anywhere but this machine's loopback. */
export function loopback(url: string): string {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new Error(`Load is only sent to loopback, not to ${host}.`);
  }
  return url;
}
