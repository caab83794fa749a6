import { describe, expect, it } from 'vitest';
import { routePattern } from '../../lib/plugin-host-http-fallback.middleware.js';

describe('routePattern (the trailing-slash redirect goes only where a GET route is)', () => {
  it('matches whole-segment parameters, literal dots and a final wildcard exactly', () => {
    const plugin = routePattern('/api/plugin-host/plugins/:slug')!;
    expect(plugin.test('/api/plugin-host/plugins/mail')).toBe(true);
    expect(plugin.test('/api/plugin-host/plugins/mail/x')).toBe(false);
    expect(plugin.test('/api/plugin-host/plugins/')).toBe(false);
    const file = routePattern('/v1.2/files/*')!;
    expect(file.test('/v1.2/files/a/b')).toBe(true);
    expect(file.test('/v1x2/files/a')).toBe(false);
  });

  it('leaves out the routes it cannot match exactly', () => {
    for (const url of ['/n/:id(^\\d+)', '/users/avatar-:size', '/a::b', '/files/x*']) {
      expect(routePattern(url), url).toBeUndefined();
    }
  });
});
