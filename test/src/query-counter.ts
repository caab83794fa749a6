import type { Logger as TypeOrmLogger } from 'typeorm';

/** A TypeORM logger that counts every query it is shown. */
export class QueryCounter implements TypeOrmLogger {
  queries: string[] = [];

  logQuery(query: string): void {
    this.queries.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  reset(): void {
    this.queries = [];
  }
}
