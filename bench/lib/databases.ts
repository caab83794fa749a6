import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { Client } from 'pg';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MARIADB_URL = process.env.MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database this bench created, and the only thing it may drop. */
export interface BenchDatabase {
  kind: 'postgres' | 'mariadb' | 'sqlite';
  /** The database name, or the SQLite file path. */
  name: string;
  url: string;
  options: TypeOrmModuleOptions;
  drop(): Promise<void>;
}

const live = new Set<BenchDatabase>();

// Ctrl-C during a bench still drops what it created.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...live].map((db) => db.drop())).then(() => process.exit(130));
  });
}

/** `nph_bench_<time>_<random>`: a name no other run or test uses. */
export function uniqueName(prefix = 'nph_bench'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

function track(db: Omit<BenchDatabase, 'drop'>, drop: () => Promise<void>): BenchDatabase {
  let dropped = false;
  const database: BenchDatabase = {
    ...db,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      live.delete(database);
      await drop();
    },
  };
  live.add(database);
  return database;
}

export async function createPostgresDatabase(): Promise<BenchDatabase> {
  const name = uniqueName();
  const admin = new Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return track(
    {
      kind: 'postgres',
      name,
      url: url.toString(),
      options: { type: 'postgres', url: url.toString(), synchronize: true },
    },
    async () => {
      const client = new Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  );
}

export async function createMariaDatabase(): Promise<BenchDatabase> {
  const { createConnection } = await import('mysql2/promise');
  const name = uniqueName();
  const admin = await createConnection(MARIADB_URL);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(MARIADB_URL);
  url.pathname = `/${name}`;
  return track(
    {
      kind: 'mariadb',
      name,
      url: url.toString(),
      options: { type: 'mariadb', url: url.toString(), synchronize: true },
    },
    async () => {
      const client = await createConnection(MARIADB_URL);
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.end();
    },
  );
}

/** A SQLite file in a fresh temp folder, in WAL mode like an app should run it. */
export async function createSqliteDatabase(): Promise<BenchDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'nph-bench-'));
  const file = join(dir, 'plugins.db');
  return track(
    {
      kind: 'sqlite',
      name: file,
      url: file,
      options: { type: 'better-sqlite3', database: file, synchronize: true, enableWAL: true },
    },
    async () => rmSync(dir, { recursive: true, force: true }),
  );
}
