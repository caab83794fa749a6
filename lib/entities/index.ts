export * from './plugin.entity.js';
export * from './plugin-audit-entry.entity.js';
export * from './workflow-definition.entity.js';
export * from './workflow-run.entity.js';

import { PluginAuditEntry } from './plugin-audit-entry.entity.js';
import { Plugin } from './plugin.entity.js';
import { WorkflowDefinitionEntity } from './workflow-definition.entity.js';
import { WorkflowRunEntity } from './workflow-run.entity.js';

/**
 * Every entity the library owns, for apps that list entities by hand instead of `autoLoadEntities`.
 * @example TypeOrmModule.forRoot({ ..., entities: [...PluginHostEntities, User] })
 */
export const PluginHostEntities = [
  Plugin,
  PluginAuditEntry,
  WorkflowDefinitionEntity,
  WorkflowRunEntity,
] as const;
