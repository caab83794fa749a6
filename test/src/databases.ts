import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';

/** A throw-away database for one test file: its TypeORM options and how to drop it. */
export interface TestDatabase {
  kind: 'sqlite' | 'postgres' | 'mariadb';
  options: TypeOrmModuleOptions;
  drop(): Promise<void>;
}

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** A fresh SQLite file in a temp folder (WAL, as apps should run it). */
export async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'nph-'));
  return {
    kind: 'sqlite',
    options: {
      type: 'better-sqlite3',
      database: join(dir, 'plugins.db'),
      synchronize: true,
      enableWAL: true,
    },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh PostgreSQL database on the local server, dropped by `drop()`. */
export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = uniqueName('nph');
  const admin = new Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    options: { type: 'postgres', url: url.toString(), synchronize: true },
    drop: async () => {
      const client = new Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export const MARIADB_URL = process.env.MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A fresh MariaDB/MySQL database on the local server, dropped by `drop()`. */
export async function createMariaDatabase(): Promise<TestDatabase> {
  const { createConnection } = await import('mysql2/promise');
  const name = uniqueName('nph');
  const admin = await createConnection(MARIADB_URL);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(MARIADB_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'mariadb',
    options: { type: 'mariadb', url: url.toString(), synchronize: true },
    drop: async () => {
      const client = await createConnection(MARIADB_URL);
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.end();
    },
  };
}

/** The databases the persistence suites run on. */
export const DATABASES = [
  ['sqlite', createSqliteDatabase],
  ['postgres', createPostgresDatabase],
  ['mariadb', createMariaDatabase],
] as const;
