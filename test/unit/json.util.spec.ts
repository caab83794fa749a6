import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergePatch } from '../../lib/index.js';
import {
  assertJsonObject,
  deepFreeze,
  describeJsonViolations,
  isCleanJson,
  jsonViolationDetails,
  readPath,
  sameJson,
} from '../../lib/json.util.js';
import { PluginValidationError } from '../../lib/plugin-host.errors.js';

const messages = (...args: Parameters<typeof jsonViolationDetails>) =>
  jsonViolationDetails(...args).map((violation) => violation.message);

describe('mergePatch (RFC 7396)', () => {
  // The examples of RFC 7396, appendix A, restricted to object targets and patches.
  const cases: Array<[object, object, object]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(cases)('patches %j with %j', (target, patch, expected) => {
    expect(mergePatch(target as never, patch as never)).toEqual(expected);
  });

  it('changes neither argument, so frozen snapshots can be patched', () => {
    const target = deepFreeze({ a: { b: 1 } });
    const patch = deepFreeze({ a: { c: 2 } });
    expect(mergePatch(target, patch)).toEqual({ a: { b: 1, c: 2 } });
    expect(target).toEqual({ a: { b: 1 } });
  });
});

describe('JSON checks', () => {
  it('refuses prototype-pollution keys at any depth and reports their path', () => {
    const body = JSON.parse('{"a":{"b":[{"__proto__":{"x":1}}]},"constructor":1,"prototype":2}');
    expect(messages(body, 32)).toEqual([
      expect.stringContaining('$.a.b[0].__proto__'),
      expect.stringContaining('$.constructor'),
      expect.stringContaining('$.prototype'),
    ]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses nesting deeper than the limit', () => {
    let deep: object = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(messages(deep, 32)).toEqual([expect.stringContaining('deeper than 32')]);
    expect(messages({ a: { b: 1 } }, 32)).toEqual([]);
  });

  it('gives each violation its location: key, too-deep value, non-JSON value, over-full object', () => {
    const body = JSON.parse(
      '{"a":{"b":[{"__proto__":1}]},"c":{"d":{"e":{"f":{}}}},"n":[1,{"x":2}]}',
    );
    body.n[1].x = Number.NaN;
    expect(jsonViolationDetails(body, 4, 'body')).toEqual([
      { path: 'body.a.b[0].__proto__', message: expect.stringContaining('body.a.b[0].__proto__') },
      { path: 'body.c.d.e.f', message: 'JSON nested deeper than 4 levels.' },
      { path: 'body.n[1].x', message: expect.stringContaining('body.n[1].x') },
    ]);
    expect(jsonViolationDetails({ a: { b: 1, c: 2 } }, 32, '$', 2)).toEqual([
      { path: '$.a', message: 'JSON with more than 2 keys in all.' },
    ]);
    expect(messages(body, 4, 'body')).toEqual(
      jsonViolationDetails(body, 4, 'body').map((v) => v.message),
    );
    try {
      assertJsonObject({ ok: { prototype: {} } }, 32, 'no');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PluginValidationError);
      expect((error as PluginValidationError).details).toEqual([
        { path: '$.ok.prototype', message: (error as Error).message },
      ]);
    }
  });

  it('refuses values that are not JSON', () => {
    expect(messages({ n: Number.NaN, d: new Date(0), f: Infinity }, 32)).toHaveLength(3);
  });

  it('accepts only plain objects as configs', () => {
    for (const bad of [null, [], 'x', 3, new Map()]) {
      expect(() => assertJsonObject(bad, 32, 'must be an object')).toThrow('must be an object');
    }
    expect(() => assertJsonObject(Object.create(null), 32, 'no')).not.toThrow();
  });

  it('reads dotted paths without walking the prototype', () => {
    const config = { smtp: { host: 'mx', port: 25 }, list: [1] };
    expect(readPath(config, 'smtp.host')).toBe('mx');
    expect(readPath(config, 'smtp.missing')).toBeUndefined();
    expect(readPath(config, 'smtp.constructor')).toBeUndefined();
    expect(readPath(config, 'list.length')).toBeUndefined();
  });
});

describe('isCleanJson, the quick check before the full walk', () => {
  /** Values with every kind of problem the full walk reports, and clean ones. */
  const risky = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, true, 'text', 1.5, Number.NaN, Number.POSITIVE_INFINITY, undefined),
      fc.date(),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('__proto__', 'constructor')),
        tie('value'),
        { maxKeys: 4 },
      ),
    ),
  })).value;

  it('agrees with the full walk on every value, depth and key limit', () => {
    fc.assert(
      fc.property(
        fc.oneof(risky, fc.jsonValue()),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 12 }),
        (value, maxDepth, maxKeys) => {
          const clean = describeJsonViolations(value, maxDepth, '$', maxKeys).length === 0;
          expect(isCleanJson(value, maxDepth, maxKeys)).toBe(clean);
          expect(jsonViolationDetails(value, maxDepth, '$', maxKeys).length === 0).toBe(clean);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('sees a __proto__ key that JSON.parse made an own property', () => {
    const parsed: unknown = JSON.parse('{"a":[{"b":{"__proto__":{"x":1}}}]}');
    expect(isCleanJson(parsed, 10)).toBe(false);
    expect(isCleanJson(JSON.parse('{"a":[{"b":{"x":1}}]}'), 10)).toBe(true);
  });
});

describe('sameJson', () => {
  it('ignores key order and the sign of zero, and nothing else', () => {
    expect(
      sameJson({ a: 1, b: { c: [1, { d: null }] } }, { b: { c: [1, { d: null }] }, a: 1 }),
    ).toBe(true);
    expect(sameJson({ n: -0 }, { n: 0 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson({ 0: 1, length: 1 }, [1])).toBe(false);
    expect(sameJson([1], { 0: 1, length: 1 })).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson('1', 1)).toBe(false);
    expect(sameJson({ a: null }, {})).toBe(false);
  });

  it('holds a value the same as its JSON round trip with its keys in reverse order', () => {
    const reversed = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reversed)
        : value && typeof value === 'object'
          ? Object.fromEntries(
              Object.entries(value)
                .toReversed()
                .map(([key, item]) => [key, reversed(item)]),
            )
          : value;
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = reversed(JSON.parse(JSON.stringify(value))) as never;
        expect(sameJson(value as never, copy)).toBe(true);
      }),
    );
  });
});
