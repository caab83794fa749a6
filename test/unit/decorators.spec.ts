import { Reflector } from '@nestjs/core';
import { describe, expect, it, vi } from 'vitest';
import {
  Capability,
  CAPABILITY_METADATA,
  getCapabilityMetadata,
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

  it('keeps capability options off reflect-metadata, so Nest scans the method as a plain one', () => {
    // Nest's scanner reads guards, interceptors, filters, pipes and route params on every method at
    // boot; a method carrying any reflect-metadata makes each of those reads slower.
    expect(Reflect.getMetadataKeys(Host.prototype.send)).toEqual([]);
    expect(getCapabilityMetadata(Host.prototype.send)).toEqual({ slug: 'newsletter.send' });
    expect(getCapabilityMetadata(Host.prototype.plain)).toBeUndefined();
    for (const target of [undefined, null, 42, 'x', {}]) {
      expect(getCapabilityMetadata(target)).toBeUndefined();
    }
  });

  it('follows method identity: inherited methods keep their options, overrides do not', () => {
    class Child extends Host {
      override charge() {}
    }
    expect(getCapabilityMetadata(Child.prototype.send)).toEqual({ slug: 'newsletter.send' });
    expect(getCapabilityMetadata(Child.prototype.charge)).toBeUndefined();
  });

  it('is shared by every copy of the package loaded in one process', async () => {
    // A second copy (a plugin library pinning another version) must see this copy's capabilities,
    // as it would through reflect-metadata's global store.
    vi.resetModules();
    const copy = await import('../../lib/decorators/capability-metadata.util.js');
    expect(copy.getCapabilityMetadata).not.toBe(getCapabilityMetadata);
    expect(copy.getCapabilityMetadata(Host.prototype.send)).toEqual({ slug: 'newsletter.send' });
    const own = () => undefined;
    copy.defineCapabilityMetadata(own, { slug: 'from.copy' });
    expect(getCapabilityMetadata(own)).toEqual({ slug: 'from.copy' });
  });

  it('still reads options an older copy of the package wrote to reflect-metadata', () => {
    class Legacy {
      send() {}
    }
    Reflect.defineMetadata(CAPABILITY_METADATA, { slug: 'legacy.send' }, Legacy.prototype.send);
    expect(getCapabilityMetadata(Legacy.prototype.send)).toEqual({ slug: 'legacy.send' });
    const accessor = new PluginHostMetadataAccessor(new Reflector());
    expect(accessor.getCapability(Legacy.prototype.send)).toEqual({ slug: 'legacy.send' });
    // Anything else under the key is not taken for options.
    class Odd {
      run() {}
    }
    Reflect.defineMetadata(CAPABILITY_METADATA, 'not options', Odd.prototype.run);
    expect(getCapabilityMetadata(Odd.prototype.run)).toBeUndefined();
  });

  it('refuses to decorate something that is not a method', () => {
    const decorate = Capability('not.a-method');
    const target = {};
    expect(() =>
      decorate(target, 'value', { get: () => 1, configurable: true } as PropertyDescriptor),
    ).toThrow(/goes on a method; value of Object is not one/);
  });
});
