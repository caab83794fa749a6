import { describe, expect, expectTypeOf, it } from 'vitest';
import type { CapabilityContext, PluginHostService } from '../../lib/index.js';

// What a user writes once to type their capabilities. These checks run in `tsc` (CI's typecheck).
declare module '../../lib/index.js' {
  interface PluginHostCapabilities {
    'typed.greet': { input: { name: string }; output: Promise<{ greeting: string }> };
    'typed.count': { input: number[]; output: number };
  }
}

/** Never called: it exists so the compiler checks the types of these calls. */
async function calls(host: PluginHostService, ctx: CapabilityContext) {
  const greeting = await host.runCapability('typed.greet', { name: 'Ada' });
  expectTypeOf(greeting).toEqualTypeOf<{ greeting: string }>();
  expectTypeOf(await ctx.run('typed.count', [1, 2])).toEqualTypeOf<number>();
  // @ts-expect-error a declared slug's input is checked
  await host.runCapability('typed.greet', { nom: 'Ada' });
  // @ts-expect-error ... in ctx.run too
  await ctx.run('typed.count', 'three');
  const other = await host.runCapability<{ a: number }, string>('other.slug', { a: 1 });
  expectTypeOf(other).toEqualTypeOf<string>();
  expectTypeOf(await host.runCapability('untyped.slug', 1)).toEqualTypeOf<unknown>();
}

describe('typed capabilities', () => {
  it('are checked by the compiler (see `calls` above)', () => {
    expect(typeof calls).toBe('function');
  });
});
