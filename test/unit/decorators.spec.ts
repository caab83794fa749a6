import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import {
  Capability,
  CAPABILITY_METADATA,
  HostedPlugin,
  HOSTED_PLUGIN_METADATA,
} from '../../lib/index.js';
import { PluginHostMetadataAccessor } from '../../lib/plugin-host-metadata.accessor.js';

@HostedPlugin({ slug: 'newsletter', labelEn: 'Newsletter', nav: true })
class Host {
  @Capability('newsletter.send')
  send() {}

  @Capability({ slug: 'billing.charge', plugin: 'billing', description: 'Charges' })
  charge() {}

  plain() {}
}

describe('decorators and metadata accessor', () => {
  const accessor = new PluginHostMetadataAccessor(new Reflector());

  it('@Capability stores its options under a namespaced key', () => {
    expect(CAPABILITY_METADATA).toBe('plugin-host:capability');
    expect(accessor.getCapability(Host.prototype.send)).toEqual({ slug: 'newsletter.send' });
    expect(accessor.getCapability(Host.prototype.charge)).toEqual({
      slug: 'billing.charge',
      plugin: 'billing',
      description: 'Charges',
    });
    expect(accessor.getCapability(Host.prototype.plain)).toBeUndefined();
  });

  it('@HostedPlugin stores its defaults on the class', () => {
    expect(HOSTED_PLUGIN_METADATA).toBe('plugin-host:hosted-plugin');
    expect(accessor.getHostedPlugin(Host)).toEqual({
      slug: 'newsletter',
      labelEn: 'Newsletter',
      nav: true,
    });
  });

  it('tolerates targets that are not functions', () => {
    for (const target of [undefined, null, 42, 'x', {}]) {
      expect(accessor.getCapability(target)).toBeUndefined();
      expect(accessor.getHostedPlugin(target)).toBeUndefined();
    }
  });

  it('refuses a capability owner that is not a plugin slug', () => {
    expect(() => Capability({ slug: 'a.b', plugin: 'Not Valid' })).toThrow(/Invalid plugin slug/);
  });

  it('copies options, so later mutation of the caller object changes nothing', () => {
    const options = { slug: 'copy.me' };
    class Target {
      @Capability(options)
      run() {}
    }
    options.slug = 'changed';
    expect(accessor.getCapability(Target.prototype.run)).toEqual({ slug: 'copy.me' });
  });
});
