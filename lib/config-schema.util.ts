import type { Type } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import type { JsonObject, JsonValue } from './entities/plugin.entity.js';
import { isPlainObject } from './json.util.js';
import { SECRET_MASK, SECRET_METADATA } from './plugin-host.constants.js';
import { PluginValidationError, type PluginValidationDetail } from './plugin-host.errors.js';

/**
 * Dotted paths of the secret fields a schema marks with `@Secret()` (nested schema classes are
 * followed through the declared types of their validated properties), plus the `secrets` listed by
 * hand.
 */
export function secretPaths(schema: Type | undefined, listed: readonly string[] = []): string[] {
  const paths = new Set(listed);
  const visit = (type: Type, prefix: string, depth: number) => {
    if (depth > 8) return;
    for (const key of (Reflect.getMetadata(SECRET_METADATA, type) as string[] | undefined) ?? []) {
      paths.add(prefix + key);
    }
    for (const [key, child] of nestedSchemas(type)) visit(child, `${prefix}${key}.`, depth + 1);
  };
  if (schema) visit(schema, '', 0);
  return [...paths].sort();
}

const SCALARS: ReadonlySet<unknown> = new Set([Object, String, Number, Boolean, Array, Date]);

/** Validated properties whose declared type is itself a class. */
function nestedSchemas(type: Type): Array<[string, Type]> {
  const keys = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(type, '', true, false)
      .map((meta) => meta.propertyName),
  );
  const found: Array<[string, Type]> = [];
  for (const key of keys) {
    const child = Reflect.getMetadata('design:type', type.prototype as object, key) as unknown;
    if (typeof child === 'function' && !SCALARS.has(child)) found.push([key, child as Type]);
  }
  return found;
}

/**
 * Validates a whole config against its schema; throws 400 listing every violation, each with its
 * path in `details` (`config.smtp.port`).
 */
export function assertConfigMatches(schema: Type | undefined, config: JsonObject): void {
  if (!schema) return;
  const instance = plainToInstance(schema, config) as object;
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: false,
  });
  if (errors.length === 0) return;
  const details = validationDetails(errors, 'config');
  const messages = details.map(({ path, message }) => `${path}: ${message}`);
  throw new PluginValidationError(messages.join('; '), messages, details);
}

/**
 * Every constraint class-validator found broken, nested ones included, each with the dotted path of
 * its property under `prefix` (`config.smtp.port`).
 */
export function validationDetails(
  errors: readonly ValidationError[],
  prefix: string,
): PluginValidationDetail[] {
  const out: PluginValidationDetail[] = [];
  for (const error of errors) {
    const path = `${prefix}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) out.push({ path, message });
    if (error.children?.length) out.push(...validationDetails(error.children, path));
  }
  return out;
}

/** A copy of `config` with every present secret replaced by the mask. */
export function maskSecrets(config: JsonObject, paths: readonly string[]): JsonObject {
  if (paths.length === 0) return config;
  let copy: JsonObject | undefined;
  for (const path of paths) {
    const parts = path.split('.');
    const value = readAt(config, parts);
    if (value === undefined || value === null) continue;
    copy ??= structuredClone(config);
    writeAt(copy, parts, SECRET_MASK);
  }
  return copy ?? config;
}

/** Removes from a patch every secret whose value is the mask, so sending it back changes nothing. */
export function dropMaskedSecrets(patch: JsonObject, paths: readonly string[]): JsonObject {
  let copy: JsonObject | undefined;
  for (const path of paths) {
    const parts = path.split('.');
    if (readAt(patch, parts) !== SECRET_MASK) continue;
    copy ??= structuredClone(patch);
    deleteAt(copy, parts);
  }
  return copy ?? patch;
}

/** The value at `parts`, or `undefined` (own properties only). */
export function readAt(source: JsonValue, parts: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = source;
  for (const part of parts) {
    if (!isPlainObject(node) || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = (node as JsonObject)[part];
  }
  return node;
}

/** Sets the value at `parts` in a mutable copy (the parents exist, since `readAt` found a value). */
export function writeAt(target: JsonObject, parts: readonly string[], value: JsonValue): void {
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] as JsonObject;
  node[parts[parts.length - 1]] = value;
}

function deleteAt(target: JsonObject, parts: readonly string[]): void {
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] as JsonObject;
  delete node[parts[parts.length - 1]];
}
