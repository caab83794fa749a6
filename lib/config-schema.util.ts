import type { Type } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import type { JsonObject, JsonValue } from './entities/plugin.entity.js';
import { isPlainObject, sameJson } from './json.util.js';
import { SECRET_MASK, SECRET_METADATA } from './plugin-host.constants.js';
import { PluginValidationError, type PluginValidationDetail } from './plugin-host.errors.js';

/**
 * Paths of the secret fields a schema marks with `@Secret()`, plus the `secrets` listed by hand.
 * Nested schema classes are followed through the declared types of their validated properties, and
 * arrays of them through their `@Type(() => Element)`; a path crosses an array as `name[]`
 * (`accounts[].password`: the password of every account).
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
  // A path under another secret is that secret's already (`smtp` covers `smtp.password`); kept,
  // masking the parent first would leave the child nothing to write into.
  const all = [...paths];
  const inside = (path: string, other: string) =>
    path !== other && (path.startsWith(`${other}.`) || path.startsWith(`${other}[`));
  return all.filter((path) => !all.some((other) => inside(path, other))).sort();
}

const SCALARS: ReadonlySet<unknown> = new Set([Object, String, Number, Boolean, Array, Date]);

/**
 * Validated properties whose declared type is itself a class, by key; an array of a class by
 * `key[]`. An array's element class is the one class-transformer builds for it (its `@Type`), found
 * by transforming a probe: the same transform validation runs, so it sees what validation sees.
 */
function nestedSchemas(type: Type): Array<[string, Type]> {
  const keys = new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(type, '', true, false)
      .map((meta) => meta.propertyName),
  );
  const found: Array<[string, Type]> = [];
  for (const key of keys) {
    const child = Reflect.getMetadata('design:type', type.prototype as object, key) as unknown;
    if (child === Array) {
      const element = arrayElementClass(type, key);
      if (element) found.push([`${key}[]`, element]);
    } else if (typeof child === 'function' && !SCALARS.has(child)) {
      found.push([key, child as Type]);
    }
  }
  return found;
}

function arrayElementClass(type: Type, key: string): Type | undefined {
  try {
    const probe = plainToInstance(type, { [key]: [{}] }) as Record<string, unknown>;
    const element = (probe[key] as unknown[] | undefined)?.[0];
    const made = (element as object | undefined)?.constructor as Type | undefined;
    return made && made !== Object ? made : undefined;
  } catch {
    return undefined;
  }
}

/** One place a secret path reaches in a config: the value and how to get to it. */
export interface SecretLocation {
  value: JsonValue;
  /** Keys and array indexes from the root. */
  trail: ReadonlyArray<string | number>;
  /** The concrete path, for messages: `accounts[1].password`. */
  label: string;
}

/**
 * Every place `path` (dotted, `name[]` for each element of an array) reaches in `source` that holds
 * a value (own properties only).
 */
export function locateSecrets(source: JsonValue, path: string): SecretLocation[] {
  let found: SecretLocation[] = [{ value: source, trail: [], label: '' }];
  for (const segment of path.split('.')) {
    const each = segment.endsWith('[]');
    const name = each ? segment.slice(0, -2) : segment;
    const next: SecretLocation[] = [];
    for (const at of found) {
      if (!isPlainObject(at.value) || !Object.hasOwn(at.value, name)) continue;
      const child = (at.value as JsonObject)[name];
      const label = at.label ? `${at.label}.${name}` : name;
      if (!each) next.push({ value: child, trail: [...at.trail, name], label });
      else elementsOf(child, [...at.trail, name], label, next);
    }
    found = next;
  }
  return found;
}

/**
 * Every element of an array, into `out`; the elements of an array nested in it too (class-transformer
 * and class-validator treat `Account[][]` with `@Type(() => Account)` the same way).
 */
function elementsOf(
  value: JsonValue,
  trail: ReadonlyArray<string | number>,
  label: string,
  out: SecretLocation[],
): void {
  if (!Array.isArray(value)) return;
  value.forEach((item, index) => {
    const at = { value: item, trail: [...trail, index], label: `${label}[${index}]` };
    if (Array.isArray(item)) elementsOf(item, at.trail, at.label, out);
    else out.push(at);
  });
}

/** Sets the value at `trail` in a mutable copy whose parents exist (a location found them). */
export function writeTrail(
  target: JsonObject,
  trail: ReadonlyArray<string | number>,
  value: JsonValue | undefined,
): void {
  let node = target as unknown as Record<string | number, JsonValue>;
  for (const step of trail.slice(0, -1)) node = node[step] as unknown as typeof node;
  const last = trail[trail.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
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
  throw locatedViolations(validationDetails(errors, 'config'));
}

/** A 400 listing violations that each have a path: `config.smtp.port: must be ...; ...`. */
export function locatedViolations(details: PluginValidationDetail[]): PluginValidationError {
  const messages = details.map(({ path, message }) => `${path}: ${message}`);
  return new PluginValidationError(messages.join('; '), messages, details);
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
    for (const { value, trail } of locateSecrets(config, path)) {
      if (value === undefined || value === null) continue;
      copy ??= structuredClone(config);
      writeTrail(copy, trail, SECRET_MASK);
    }
  }
  return copy ?? config;
}

/**
 * A patch in which every secret sent back as the mask stands for the stored value, so sending a
 * masked config back changes no secret. Outside arrays the masked key is dropped (the merge keeps
 * what is stored). Inside one, which a merge patch replaces whole and whose elements may have been
 * removed or reordered, a masked secret takes the value of the stored element equal to its own
 * once secrets are set aside (`{ user: 'bob' }`), at the same place or else the first one no other
 * element took; an array of bare secrets goes by place. A mask no stored element answers for is
 * refused.
 */
export function restoreMaskedSecrets(
  patch: JsonObject,
  paths: readonly string[],
  current: JsonObject,
): JsonObject {
  let copy: JsonObject | undefined;
  const orphans: string[] = [];
  const claims: Claims = new Map();
  for (const path of paths) {
    for (const { value, trail, label } of locateSecrets(patch, path)) {
      if (value !== SECRET_MASK) continue;
      // A JSON copy: a patch built in code may hold one object twice, which must not share a write.
      copy ??= JSON.parse(JSON.stringify(patch)) as JsonObject;
      if (!trail.some((step) => typeof step === 'number')) {
        writeTrail(copy, trail, undefined);
        continue;
      }
      const stored = storedSecretFor(patch, current, trail, path, paths, claims);
      if (stored === undefined || stored === null || stored === SECRET_MASK) orphans.push(label);
      else writeTrail(copy, trail, stored);
    }
  }
  if (orphans.length > 0) {
    throw locatedViolations(
      orphans.map((label) => ({
        path: `config.${label}`,
        message: 'the mask stands for a stored secret, and none is stored here',
      })),
    );
  }
  return copy ?? patch;
}

/** For each sent array: which stored element each of its elements stands for (one to one). */
type Claims = Map<JsonValue[], Map<number, number>>;

/**
 * The stored value a masked secret at `trail` (in `patch`, found through pattern `path`) stands
 * for. The trail is followed through `current`; at each array index the sent element stands for a
 * stored element equal to it once the secrets under it are set aside (the same one at its place,
 * else the first one no other sent element stands for).
 */
function storedSecretFor(
  patch: JsonObject,
  current: JsonObject,
  trail: ReadonlyArray<string | number>,
  path: string,
  paths: readonly string[],
  claims: Claims,
): JsonValue | undefined {
  const segments = path.split('.');
  let sent: JsonValue | undefined = patch;
  let stored: JsonValue | undefined = current;
  let pattern = '';
  let segment = 0;
  for (const step of trail) {
    if (typeof step === 'string') {
      pattern = pattern ? `${pattern}.${segments[segment]}` : segments[segment];
      segment++;
      sent = (sent as JsonObject)[step];
      stored = isPlainObject(stored) && Object.hasOwn(stored, step) ? stored[step] : undefined;
      if (stored === undefined) return undefined;
      continue;
    }
    const list = sent as JsonValue[];
    const element: JsonValue = list[step];
    if (!Array.isArray(stored)) return undefined;
    if (!isPlainObject(element)) {
      // A bare secret (`tokens[]`) or an array in an array: nothing to match it by but its place.
      stored = stored[step];
    } else {
      const inner = paths
        .filter((other) => other.startsWith(`${pattern}.`))
        .map((other) => other.slice(pattern.length + 1));
      let chosen = claims.get(list);
      if (!chosen) {
        // Every element of the sent list takes its stored element at once, in order: which sent
        // element stands for which stored one does not depend on which secrets were masked.
        chosen = new Map();
        const taken = new Set<number>();
        const choices: JsonValue[] = stored;
        list.forEach((item, at) => {
          if (!isPlainObject(item)) return;
          const wanted = identityOf(item, inner);
          const fits = (candidate: number): boolean =>
            candidate < choices.length &&
            !taken.has(candidate) &&
            sameJson(identityOf(choices[candidate], inner), wanted);
          const index = fits(at) ? at : choices.findIndex((_, candidate) => fits(candidate));
          if (index === -1) return;
          chosen!.set(at, index);
          taken.add(index);
        });
        claims.set(list, chosen);
      }
      const index = chosen.get(step);
      if (index === undefined) return undefined;
      stored = stored[index];
    }
    sent = element;
  }
  return stored;
}

/**
 * What tells an array element apart from its siblings: the element without its secrets (relative
 * paths `inner`) and without the arrays that lead to secrets (matched at their own level).
 */
function identityOf(value: JsonValue, inner: readonly string[]): JsonValue {
  if (!isPlainObject(value)) return value;
  const copy = structuredClone(value) as JsonObject;
  for (const path of inner) {
    const parts = path.split('.');
    const throughArray = parts.findIndex((part) => part.endsWith('[]'));
    const leaf = throughArray === -1 ? parts : parts.slice(0, throughArray + 1);
    let node: JsonValue | undefined = copy;
    for (const part of leaf.slice(0, -1)) {
      node = isPlainObject(node) ? (node as JsonObject)[part] : undefined;
    }
    if (isPlainObject(node))
      delete (node as JsonObject)[leaf[leaf.length - 1].replace(/\[\]$/, '')];
  }
  return copy;
}
