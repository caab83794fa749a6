export * from './plugin.entity.js';
export * from './plugin-audit-entry.entity.js';

import { PluginAuditEntry } from './plugin-audit-entry.entity.js';
import { Plugin } from './plugin.entity.js';

/**
 * Every entity the library owns, for apps that list entities by hand instead of `autoLoadEntities`.
 * @example TypeOrmModule.forRoot({ ..., entities: [...PluginHostEntities, User] })
 */
export const PluginHostEntities = [Plugin, PluginAuditEntry] as const;
