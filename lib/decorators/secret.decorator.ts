import { SECRET_METADATA } from '../plugin-host.constants.js';

/**
 * Marks a property of a config schema class as secret: it is never returned by a REST route, an
 * event or an audit entry (it shows as `"********"`), sending the mask back keeps the stored value,
 * and with `encryptionKeys` it is encrypted at rest. Capabilities still receive the real value.
 *
 * @example
 * ```ts
 * class MailConfig {
 *   @IsString() host!: string;
 *   @Secret() @IsString() password!: string;
 * }
 * @HostedPlugin({ slug: 'mail', configSchema: MailConfig })
 * ```
 */
export function Secret(): PropertyDecorator {
  return (target, key) => {
    const ctor = target.constructor;
    const existing: string[] = Reflect.getOwnMetadata(SECRET_METADATA, ctor) ?? [
      ...(Reflect.getMetadata(SECRET_METADATA, ctor) ?? []),
    ];
    Reflect.defineMetadata(SECRET_METADATA, [...new Set([...existing, String(key)])], ctor);
  };
}
