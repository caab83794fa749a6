import type { CapabilityHandler } from '../interfaces/capability.interface.js';
import type { TriggerWorkflowOptions } from './workflow.interface.js';

/**
 * A capability that triggers a workflow with the capability's input. By default it waits and returns
 * the finished run; with `{ wait: false }` it returns `{ runId }` at once.
 *
 * @example host.registerCapability('users.onboard', workflowCapability('onboarding'))
 */
export function workflowCapability(
  workflow: string,
  options: Pick<TriggerWorkflowOptions, 'wait'> = {},
): CapabilityHandler {
  return async (input, ctx) => {
    const run = await ctx.runWorkflow(workflow, input, { wait: options.wait, actor: ctx.actor });
    return options.wait === false ? { runId: run.id } : run;
  };
}
