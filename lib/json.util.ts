import { FORBIDDEN_KEYS } from './plugin-host.constants.js';
import type { JsonObject, JsonValue } from './entities/plugin.entity.js';
import { PluginValidationError, type PluginValidationDetail } from './plugin-host.errors.js';
import { MESSAGES } from './plugin-host.messages.js';

/** Whether `value` is a plain object (not an array, not null, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is pure JSON no deeper than `maxDepth`, with none of the keys that enable
 * prototype pollution and at most `maxKeys` keys. Collects every violation (up to 20) instead of
 * stopping at the first, each with its location: the path (from `root`) of the value that is not
 * JSON, of the forbidden key, of the value nested too deep, or of the object where the key count
 * went over `maxKeys`.
 */
export function jsonViolationDetails(
  value: unknown,
  maxDepth: number,
  root = '$',
  maxKeys = Number.POSITIVE_INFINITY,
): PluginValidationDetail[] {
  // Nearly every value is clean: a walk that builds no paths says so first (every REST body).
  if (isCleanJson(value, maxDepth, maxKeys)) return [];
  return describeJsonViolations(value, maxDepth, root, maxKeys);
}

/**
 * Whether {@link jsonViolationDetails} finds nothing wrong with `value`, without building the paths
 * it reports. May say false for a value the full walk accepts (an array with holes), never the
 * reverse.
 */
export function isCleanJson(
  value: unknown,
  maxDepth: number,
  maxKeys = Number.POSITIVE_INFINITY,
): boolean {
  return keysLeftIfClean(value, maxDepth, 0, maxKeys) >= 0;
}

/** The full walk behind {@link jsonViolationDetails}, with every problem's path. */
export function describeJsonViolations(
  value: unknown,
  maxDepth: number,
  root = '$',
  maxKeys = Number.POSITIVE_INFINITY,
): PluginValidationDetail[] {
  const problems: PluginValidationDetail[] = [];
  let keys = 0;
  const visit = (node: unknown, path: string, depth: number): void => {
    if (problems.length >= 20) return;
    if (node === null || typeof node === 'string' || typeof node === 'boolean') return;
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) problems.push({ path, message: MESSAGES.notJson(path) });
      return;
    }
    if (depth >= maxDepth) {
      problems.push({ path, message: MESSAGES.tooDeep(maxDepth) });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${path}[${i}]`, depth + 1));
      return;
    }
    if (!isPlainObject(node)) {
      problems.push({ path, message: MESSAGES.notJson(path) });
      return;
    }
    for (const key of Object.keys(node)) {
      if (++keys > maxKeys) {
        problems.push({ path, message: MESSAGES.tooManyKeys(maxKeys) });
        return;
      }
      const child = `${path}.${key}`;
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ path: child, message: MESSAGES.forbiddenKey(child) });
      } else {
        visit(node[key], child, depth + 1);
      }
    }
  };
  visit(value, root, 0);
  return problems;
}

/** How many of `keys` are left after `node`'s when it is clean (see {@link isCleanJson}), else -1. */
function keysLeftIfClean(node: unknown, maxDepth: number, depth: number, keys: number): number {
  if (node === null || typeof node === 'string' || typeof node === 'boolean') return keys;
  if (typeof node === 'number') return Number.isFinite(node) ? keys : -1;
  if (depth >= maxDepth) return -1;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length && keys >= 0; i++) {
      keys = keysLeftIfClean(node[i], maxDepth, depth + 1, keys);
    }
    return keys;
  }
  if (!isPlainObject(node)) return -1;
  const names = Object.keys(node);
  keys -= names.length;
  for (let i = 0; i < names.length && keys >= 0; i++) {
    if (FORBIDDEN_KEYS.has(names[i])) return -1;
    keys = keysLeftIfClean(node[names[i]], maxDepth, depth + 1, keys);
  }
  return keys;
}

/**
 * The `PluginValidationError` listing violations found by {@link jsonViolationDetails}, the first
 * as its message.
 */
export function jsonViolationError(problems: PluginValidationDetail[]): PluginValidationError {
  const messages = problems.map((p) => p.message);
  return new PluginValidationError(messages[0], messages, problems);
}

/** Throws `PluginValidationError` listing every problem unless `value` is a safe JSON object. */
export function assertJsonObject(
  value: unknown,
  maxDepth: number,
  notObjectMessage: string,
  maxKeys = Number.POSITIVE_INFINITY,
): asserts value is JsonObject {
  if (!isPlainObject(value)) throw new PluginValidationError(notObjectMessage);
  const problems = jsonViolationDetails(value, maxDepth, '$', maxKeys);
  if (problems.length) throw jsonViolationError(problems);
}

/**
 * JSON Merge Patch (RFC 7396): objects merge recursively, `null` deletes a key, anything else
 * (arrays included) replaces. Returns a new object; neither argument is changed.
 */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const result: JsonObject = { ...target };
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value)) {
      const current = result[key];
      result[key] = mergePatch(
        isPlainObject(current) ? (current as JsonObject) : {},
        value as JsonObject,
      );
    } else {
      result[key] = value;
    }
  }
  return result;
}

/** Deep copy of JSON data (structured, so dates and the like never sneak in). */
export function cloneJson<T extends JsonValue>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Whether two JSON values mean the same: key order does not matter, and `-0` equals `0` (JSON
 * writes both as `0`, so a value read back from a store may have lost the sign).
 */
export function sameJson(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => sameJson(item, b[index]))
    );
  }
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key]))
  );
}

/** Freezes an object graph in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Size of `value`'s JSON form in UTF-8 bytes. */
export function jsonByteLength(value: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Reads a dotted path (`smtp.host`) out of a config. */
export function readPath(source: JsonObject, path: string): JsonValue | undefined {
  let node: JsonValue | undefined = source;
  for (const part of path.split('.')) {
    if (!isPlainObject(node) || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = (node as JsonObject)[part];
  }
  return node;
}

/** Why {@link storableText} refused a string, after the field's name. */
export const UNSTORABLE_TEXT = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/**
 * Whether every store keeps a string as it is: PostgreSQL refuses a NUL character in text, and
 * PostgreSQL, MariaDB and SQLite replace an unpaired UTF-16 surrogate (which no UTF-8 text holds)
 * with U+FFFD, so the stored record would differ from the one the instance answered with.
 */
export function storableText(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
