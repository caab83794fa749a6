import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Column types and defaults in the dialect of the migration's database, written the way TypeORM's
 * own schema builder writes them, so a migrated schema and a synchronized one compare equal.
 */
export function columnDialect(queryRunner: QueryRunner) {
  const driver = queryRunner.connection.driver;
  const mapped = driver.mappedDataTypes;
  const isMysql = ['mysql', 'mariadb', 'aurora-mysql'].includes(driver.options.type);
  return {
    type: (type: string) => driver.normalizeType({ type: type as never }),
    value: (value: string | number | boolean) =>
      driver.normalizeDefault({
        default: value,
        type: String,
        isArray: false,
      } as unknown as ColumnMetadata),
    createDate: (name: string): TableColumnOptions => ({
      name,
      type: driver.normalizeType({ type: mapped.createDate as never }),
      precision: mapped.createDatePrecision,
      default: mapped.createDateDefault,
    }),
    updateDate: (name: string): TableColumnOptions => ({
      name,
      type: driver.normalizeType({ type: mapped.updateDate as never }),
      precision: mapped.updateDatePrecision,
      default: mapped.updateDateDefault,
      onUpdate: isMysql ? mapped.updateDateDefault : undefined,
    }),
  };
}
