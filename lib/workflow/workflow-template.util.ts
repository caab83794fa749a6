import type { JsonObject, JsonValue } from '../entities/plugin.entity.js';
import { isPlainObject, readPath } from '../json.util.js';
import type { WorkflowCondition } from './workflow.interface.js';

const WHOLE = /^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$/;
const ANY = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/** Paths referenced by templates anywhere in `value`. */
export function templatePaths(value: JsonValue | undefined): string[] {
  const found: string[] = [];
  const visit = (node: JsonValue | undefined) => {
    if (typeof node === 'string') for (const m of node.matchAll(ANY)) found.push(m[1]);
    else if (Array.isArray(node)) node.forEach(visit);
    else if (isPlainObject(node)) Object.values(node).forEach((v) => visit(v as JsonValue));
  };
  visit(value);
  return found;
}

/**
 * Resolves templates over `state`: a string that is exactly `{{path}}` becomes the value at that path
 * (any type; `null` when missing), other strings get each `{{path}}` replaced by its text.
 */
export function renderTemplates(value: JsonValue | undefined, state: JsonObject): JsonValue {
  if (value === undefined) return {};
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return readPath(state, whole[1]) ?? null;
    return value.replace(ANY, (_, path: string) => {
      const found = readPath(state, path);
      if (found === undefined || found === null) return '';
      return typeof found === 'object' ? JSON.stringify(found) : String(found);
    });
  }
  if (Array.isArray(value)) return value.map((item) => renderTemplates(item, state));
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value))
      out[key] = renderTemplates(item as JsonValue, state);
    return out;
  }
  return value;
}

/** Evaluates a step's `when` over the run's state. */
export function evaluateCondition(condition: WorkflowCondition, state: JsonObject): boolean {
  if ('all' in condition) return condition.all.every((c) => evaluateCondition(c, state));
  if ('any' in condition) return condition.any.some((c) => evaluateCondition(c, state));
  if ('not' in condition) return !evaluateCondition(condition.not, state);
  const value = readPath(state, condition.path);
  if ('exists' in condition) return (value !== undefined && value !== null) === condition.exists;
  if ('equals' in condition)
    return JSON.stringify(value ?? null) === JSON.stringify(condition.equals);
  return JSON.stringify(value ?? null) !== JSON.stringify(condition.notEquals);
}
