export * from './workflow.interface.js';
export * from './workflow.store.js';
export { WORKFLOW_STORE } from './workflow.constants.js';
export { workflowCapability } from './workflow-capability.util.js';
export { PluginWorkflowService } from './workflow.service.js';
