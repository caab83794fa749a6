import { EventEmitter } from 'node:events';
import type { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { PostgresNotifyTransport } from '../../lib/sync/postgres-notify.transport.js';

/** A `pg` Client stand-in whose connections fail while `down` is set. */
function fakePostgres(state: { down: boolean; connects: number; listens: number }) {
  class Client extends EventEmitter {
    async connect(): Promise<void> {
      state.connects++;
      if (state.down) throw new Error('connect ECONNREFUSED');
    }
    async query(sql: string): Promise<void> {
      if (sql.startsWith('LISTEN')) state.listens++;
    }
    async end(): Promise<void> {}
  }
  return { driver: { postgres: { Client }, options: {} } } as unknown as DataSource;
}

describe('PostgresNotifyTransport', () => {
  it('keeps retrying a listener that could not connect at boot, then resyncs', async () => {
    const state = { down: true, connects: 0, listens: 0 };
    const transport = new PostgresNotifyTransport(fakePostgres(state), 'plugin_host_changes');
    let resyncs = 0;
    await expect(
      transport.start(
        () => undefined,
        () => resyncs++,
      ),
    ).rejects.toThrow('ECONNREFUSED');
    state.down = false;
    await expect.poll(() => state.listens, { timeout: 2_000 }).toBe(1);
    expect(resyncs).toBe(1);
    await transport.stop();
  });
});
