import {
  isPlainObject,
  jsonViolationDetails,
  jsonViolationError,
  storableText,
  UNSTORABLE_TEXT,
} from '../json.util.js';
import { PluginValidationError, type PluginValidationDetail } from '../plugin-host.errors.js';
import { isCapabilitySlug, isPluginSlug } from '../slug.util.js';
import type { WorkflowCondition, WorkflowDefinition } from './workflow.interface.js';

const STEP_KEYS = new Set([
  'id',
  'capability',
  'with',
  'retry',
  'timeoutMs',
  'onError',
  'compensate',
  'when',
]);
const ROOTS = new Set(['input', 'steps', 'error']);

/**
 * Checks a definition completely and throws one `PluginValidationError` listing every problem:
 * names and step ids, capabilities that must exist, retry/timeout ranges, templates that may only
 * read `input`, earlier steps or `error`, and conditions.
 */
export function assertWorkflowDefinition(
  value: unknown,
  capabilityExists: (slug: string) => boolean,
  maxDepth: number,
): asserts value is WorkflowDefinition {
  if (!isPlainObject(value))
    throw new PluginValidationError('A workflow definition must be a JSON object.');
  const violations = jsonViolationDetails(value, maxDepth, 'definition');
  if (violations.length) throw jsonViolationError(violations);
  const problems: string[] = [];
  const details: PluginValidationDetail[] = [];
  // `path` is relative to the definition; `message` names the place, as the messages always have.
  const add: Add = (path, message) => {
    problems.push(message);
    details.push({ path: `definition.${path}`, message });
  };
  const def = value as unknown as WorkflowDefinition;
  for (const key of Object.keys(def)) {
    if (!['name', 'description', 'steps'].includes(key))
      add(key, `definition.${key} should not exist`);
  }
  if (!isPluginSlug(def.name))
    add('name', 'name must be 1-63 lower-case letters, digits or dashes');
  if (
    def.description !== undefined &&
    (typeof def.description !== 'string' || def.description.length > 1024)
  ) {
    add('description', 'description must be a string of at most 1024 characters');
  } else if (def.description !== undefined && !storableText(def.description)) {
    add('description', `description ${UNSTORABLE_TEXT}`);
  }
  if (!Array.isArray(def.steps) || def.steps.length === 0 || def.steps.length > 100) {
    add('steps', 'steps must be an array of 1 to 100 steps');
  } else {
    const seen = new Set<string>();
    def.steps.forEach((step, i) => {
      const at = `steps[${i}]`;
      if (!isPlainObject(step)) {
        add(at, `${at} must be an object`);
        return;
      }
      for (const key of Object.keys(step))
        if (!STEP_KEYS.has(key)) add(`${at}.${key}`, `${at}.${key} should not exist`);
      if (!isPluginSlug(step.id))
        add(`${at}.id`, `${at}.id must be 1-63 lower-case letters, digits or dashes`);
      else if (seen.has(step.id)) add(`${at}.id`, `${at}.id "${step.id}" is used twice`);
      if (!isCapabilitySlug(step.capability))
        add(`${at}.capability`, `${at}.capability must be a capability slug`);
      else if (!capabilityExists(step.capability))
        add(`${at}.capability`, `${at}.capability "${step.capability}" is not registered`);
      if (step.with !== undefined && !isPlainObject(step.with))
        add(`${at}.with`, `${at}.with must be an object`);
      checkTemplates(JSON.stringify(step.with ?? {}), seen, `${at}.with`, add, false);
      if (step.retry !== undefined) {
        const r = step.retry;
        unknownKeys(r, RETRY_KEYS, `${at}.retry`, add);
        if (
          !isPlainObject(r) ||
          !Number.isInteger(r.attempts) ||
          r.attempts < 1 ||
          r.attempts > 20
        ) {
          add(`${at}.retry.attempts`, `${at}.retry.attempts must be an integer from 1 to 20`);
        } else {
          if (
            r.backoffMs !== undefined &&
            !(Number.isInteger(r.backoffMs) && r.backoffMs >= 0 && r.backoffMs <= 600_000)
          ) {
            add(
              `${at}.retry.backoffMs`,
              `${at}.retry.backoffMs must be an integer from 0 to 600000`,
            );
          }
          if (
            r.factor !== undefined &&
            !(typeof r.factor === 'number' && r.factor >= 1 && r.factor <= 10)
          ) {
            add(`${at}.retry.factor`, `${at}.retry.factor must be a number from 1 to 10`);
          }
        }
      }
      if (
        step.timeoutMs !== undefined &&
        !(Number.isInteger(step.timeoutMs) && step.timeoutMs > 0 && step.timeoutMs <= 86_400_000)
      ) {
        add(`${at}.timeoutMs`, `${at}.timeoutMs must be a positive integer (ms, at most a day)`);
      }
      if (step.onError !== undefined && step.onError !== 'fail' && step.onError !== 'continue') {
        add(`${at}.onError`, `${at}.onError must be "fail" or "continue"`);
      }
      if (step.compensate !== undefined) {
        const c = step.compensate;
        unknownKeys(c, COMPENSATE_KEYS, `${at}.compensate`, add);
        if (isPlainObject(c) && c.with !== undefined && !isPlainObject(c.with))
          add(`${at}.compensate.with`, `${at}.compensate.with must be an object`);
        if (!isPlainObject(c) || !isCapabilitySlug(c.capability))
          add(
            `${at}.compensate.capability`,
            `${at}.compensate.capability must be a capability slug`,
          );
        else if (!capabilityExists(c.capability))
          add(
            `${at}.compensate.capability`,
            `${at}.compensate.capability "${c.capability}" is not registered`,
          );
        else
          checkTemplates(
            JSON.stringify(c.with ?? {}),
            new Set([...seen, step.id]),
            `${at}.compensate.with`,
            add,
            true,
          );
      }
      if (step.when !== undefined) checkCondition(step.when, `${at}.when`, seen, add);
      if (isPluginSlug(step.id)) seen.add(step.id);
    });
  }
  if (problems.length) throw new PluginValidationError(problems[0], problems, details);
}

/** Records one problem at `path` (relative to the definition). */
type Add = (path: string, message: string) => void;

function checkTemplates(
  text: string,
  earlier: Set<string>,
  at: string,
  add: Add,
  allowError: boolean,
): void {
  for (const [, path] of text.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
    const [root, id] = path.split('.');
    if (!/^[A-Za-z0-9_.-]+$/.test(path) || !ROOTS.has(root) || (root === 'error' && !allowError)) {
      add(
        at,
        `${at}: template {{${path}}} may only read input, steps.<earlier step>${allowError ? ' or error' : ''}`,
      );
    } else if (root === 'steps' && !earlier.has(id)) {
      add(at, `${at}: template {{${path}}} reads step "${id}", which does not run before this one`);
    }
  }
}

/** Keys a retry policy, a compensation and each form of condition may have. */
const RETRY_KEYS = new Set(['attempts', 'backoffMs', 'factor']);
const COMPENSATE_KEYS = new Set(['capability', 'with']);
/** Each form's keys, sorted and joined. */
const CONDITION_FORMS = new Set([
  'all',
  'any',
  'not',
  'equals,path',
  'notEquals,path',
  'exists,path',
]);

/** Records each key of `value` (when it is an object) that `allowed` does not hold. */
function unknownKeys(value: unknown, allowed: ReadonlySet<string>, at: string, add: Add): void {
  if (!isPlainObject(value)) return;
  for (const key of Object.keys(value))
    if (!allowed.has(key)) add(`${at}.${key}`, `${at}.${key} should not exist`);
}

function checkCondition(condition: unknown, at: string, earlier: Set<string>, add: Add): void {
  const c = condition as WorkflowCondition;
  const keys = isPlainObject(c) ? Object.keys(c).sort().join() : '';
  const form = CONDITION_FORMS.has(keys);
  if (!isPlainObject(c)) {
    add(at, `${at} must be a condition object`);
  } else if (!form) {
    add(at, `${at} must be { path, equals | notEquals | exists }, { all }, { any } or { not }`);
  } else if ('exists' in c && typeof c.exists !== 'boolean') {
    add(`${at}.exists`, `${at}.exists must be true or false`);
  } else if ('all' in c || 'any' in c) {
    const list = 'all' in c ? c.all : (c as { any: unknown }).any;
    if (!Array.isArray(list) || list.length === 0) add(at, `${at} needs a non-empty list`);
    else list.forEach((item, i) => checkCondition(item, `${at}[${i}]`, earlier, add));
  } else if ('not' in c) {
    checkCondition(c.not, `${at}.not`, earlier, add);
  } else if (
    typeof (c as { path?: unknown }).path === 'string' &&
    ('equals' in c || 'notEquals' in c || 'exists' in c)
  ) {
    checkTemplates(`{{${(c as { path: string }).path}}}`, earlier, at, add, false);
  } else {
    add(at, `${at} must be { path, equals | notEquals | exists }, { all }, { any } or { not }`);
  }
}
