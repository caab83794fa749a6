import {
  createMariaDatabase as createMaria,
  createPostgresDatabase as createPostgres,
  createSqliteDatabase as createSqlite,
  type TestDatabase,
} from '../../test/src/databases.js';

export { MARIADB_URL, PG_URL, uniqueName } from '../../test/src/databases.js';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database this bench created (the tests' throw-away databases), and the only one it may drop. */
export type BenchDatabase = TestDatabase;

const live = new Set<BenchDatabase>();

// Ctrl-C during a bench still drops what it created.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...live].map((db) => db.drop())).then(() => process.exit(130));
  });
}

/** Remembers `created` until it is dropped, so an interrupted bench drops it too. */
async function track(created: Promise<TestDatabase>): Promise<BenchDatabase> {
  const db = await created;
  let dropped = false;
  const database: BenchDatabase = {
    ...db,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      live.delete(database);
      await db.drop();
    },
  };
  live.add(database);
  return database;
}

export const createPostgresDatabase = () => track(createPostgres('nph_bench'));
export const createMariaDatabase = () => track(createMaria('nph_bench'));
export const createSqliteDatabase = () => track(createSqlite('nph-bench'));
