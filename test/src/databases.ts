import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';

/** A throw-away database for one test file (or bench): its TypeORM options and how to drop it. */
export interface TestDatabase {
  kind: 'sqlite' | 'postgres' | 'mariadb';
  /** The database name, or the SQLite file path. */
  name: string;
  /** A connection URL, or the SQLite file path. */
  url: string;
  options: TypeOrmModuleOptions;
  drop(): Promise<void>;
}

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `<prefix>_<time>_<random>`: a name no other run or test uses. */
export function uniqueName(prefix = 'nph'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** A fresh SQLite file in a temp folder (WAL, as apps should run it). */
export async function createSqliteDatabase(prefix = 'nph'): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const file = join(dir, 'plugins.db');
  return {
    kind: 'sqlite',
    name: file,
    url: file,
    options: { type: 'better-sqlite3', database: file, synchronize: true, enableWAL: true },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh PostgreSQL database on the local server, dropped by `drop()`. */
export async function createPostgresDatabase(prefix = 'nph'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = new Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    name,
    url: url.toString(),
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
export async function createMariaDatabase(prefix = 'nph'): Promise<TestDatabase> {
  const { createConnection } = await import('mysql2/promise');
  const name = uniqueName(prefix);
  const admin = await createConnection(MARIADB_URL);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(MARIADB_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'mariadb',
    name,
    url: url.toString(),
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
