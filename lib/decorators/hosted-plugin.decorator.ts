import { SetMetadata } from '@nestjs/common';
import { HOSTED_PLUGIN_METADATA } from '../plugin-host.constants.js';
import type { HostedPluginOptions } from '../interfaces/hosted-plugin.interface.js';
import { assertPluginSlug } from '../slug.util.js';

/**
 * Declares the plugin a class belongs to, with the defaults its record gets the first time it is
 * hosted. Capabilities declared in the class are owned by this plugin unless they name another. The
 * defaults are inserted only if the slug has no record: a restart never overwrites an admin's changes.
 *
 * @example
 * ```ts
 * @HostedPlugin({ slug: 'newsletter', labelEn: 'Newsletter', labelAr: 'النشرة الإخبارية', nav: true, sort: 10 })
 * @Injectable()
 * export class NewsletterPlugin { ... }
 * ```
 */
export function HostedPlugin(options: HostedPluginOptions): ClassDecorator {
  assertPluginSlug(options.slug);
  return SetMetadata(HOSTED_PLUGIN_METADATA, { ...options });
}
