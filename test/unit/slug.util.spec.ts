import { describe, expect, it } from 'vitest';
import { isCapabilitySlug, isPluginSlug } from '../../lib/index.js';
import { impliedOwner } from '../../lib/slug.util.js';

describe('slugs', () => {
  it.each(['a', 'newsletter', 'mail-2', '0day', 'a'.repeat(63)])(
    'accepts plugin slug %s',
    (slug) => {
      expect(isPluginSlug(slug)).toBe(true);
    },
  );

  it.each([
    '',
    '-lead',
    'Upper',
    'has space',
    'dot.ted',
    'a'.repeat(64),
    'nеwsletter', // Cyrillic е
    '..',
    '%2F',
    "x';drop table plugins;--",
    'tab\t',
    'line\n',
  ])('refuses plugin slug %j', (slug) => {
    expect(isPluginSlug(slug)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const value of [null, undefined, 1, {}, ['a']]) expect(isPluginSlug(value)).toBe(false);
  });

  it.each(['newsletter.send', 'a.b.c', 'solo', 'billing.invoice-create'])(
    'accepts capability slug %s',
    (slug) => expect(isCapabilitySlug(slug)).toBe(true),
  );

  it.each(['.send', 'send.', 'a..b', 'A.b', 'a.-b', `a.${'b'.repeat(255)}`])(
    'refuses capability slug %j',
    (slug) => expect(isCapabilitySlug(slug)).toBe(false),
  );

  it('implies the owner from the part before the first dot, else the slug itself', () => {
    expect(impliedOwner('newsletter.send.now')).toBe('newsletter');
    expect(impliedOwner('solo')).toBe('solo');
  });
});
