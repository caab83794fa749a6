/**
 * The load generator: a child process (forked by `http-load.ts`) that runs autocannon, so the client
 * never shares an event loop, or a core, with the server it measures. It records every response's
 * latency itself, since autocannon's histogram keeps whole milliseconds only.
 */
import autocannon from 'autocannon';
import { percentiles } from './stats.js';
import type { LoadJob, LoadResult } from './http-load.js';

function run(job: LoadJob): Promise<Omit<LoadResult, 'cpuMicros'>> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let ok = 0;
    let failed = 0;
    const started = performance.now();
    const instance = autocannon(
      {
        url: job.url,
        method: job.method ?? 'GET',
        ...(job.body !== undefined ? { body: job.body } : {}),
        ...(job.headers !== undefined ? { headers: job.headers } : {}),
        connections: job.connections,
        ...(job.amount !== undefined ? { amount: job.amount } : { duration: job.seconds ?? 1 }),
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (performance.now() - started) / 1000;
        resolve({
          requests: ok,
          failed: failed + result.errors,
          perSecond: ok / seconds,
          seconds,
          latency: percentiles(latencies),
        });
      },
    );
    // autocannon emits (client, statusCode, bytes, responseTime); its typings leave out `client`.
    (instance as unknown as NodeJS.EventEmitter).on('response', (...args: unknown[]) => {
      const status = args[1] as number;
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(args[3] as number);
      } else {
        failed++;
      }
    });
  });
}

process.on('message', (message: { id: number; job: LoadJob }) => {
  run(message.job).then(
    (result) => process.send!({ id: message.id, result }),
    (error: Error) => process.send!({ id: message.id, error: error.message }),
  );
});
