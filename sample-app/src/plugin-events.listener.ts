import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { CapabilityFailedEvent, PluginChangeEvent, WorkflowRun } from 'nest-plugin-host';

/** Logs the module's events, the way an audit trail or a cache invalidator would listen. */
@Injectable()
export class PluginEventsListener {
  private readonly logger = new Logger('PluginEvents');

  @OnEvent('plugin-host.plugin.*')
  pluginChanged(event: PluginChangeEvent): void {
    const versions = `v${event.before?.version ?? '-'} -> v${event.after?.version ?? '-'}`;
    this.logger.log(
      `plugin-host.plugin.${event.action} ${event.slug} ${versions} by ${event.actor} (${event.origin})`,
    );
  }

  @OnEvent('plugin-host.capability.failed')
  capabilityFailed(event: CapabilityFailedEvent): void {
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    this.logger.warn(
      `plugin-host.capability.failed ${event.slug} after ${event.durationMs.toFixed(1)} ms: ${reason}`,
    );
  }

  @OnEvent('plugin-host.workflow.run.*')
  workflowRun(event: { run: WorkflowRun }): void {
    this.logger.log(`workflow ${event.run.workflow} run ${event.run.id}: ${event.run.status}`);
  }
}
