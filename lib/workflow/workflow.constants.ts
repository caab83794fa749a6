/** Injection token of the {@link WorkflowStore}. */
export const WORKFLOW_STORE = Symbol('PLUGIN_HOST_WORKFLOW_STORE');
