import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { CapabilityFailedEvent, PluginChangeEvent } from 'nest-plugin-host';

/** Logs every `plugin-host.*` event, the way an audit trail or a cache invalidator would listen. */
@Injectable()
export class PluginEventsListener {
  private readonly logger = new Logger('PluginEvents');

  @OnEvent('plugin-host.**')
  log(event: PluginChangeEvent | CapabilityFailedEvent): void {
    if ('action' in event) {
      const versions = `v${event.before?.version ?? '-'} -> v${event.after?.version ?? '-'}`;
      this.logger.log(
        `plugin-host.plugin.${event.action} ${event.slug} ${versions} by ${event.actor} (${event.origin})`,
      );
      return;
    }
    const reason = event.error instanceof Error ? event.error.message : String(event.error);
    this.logger.warn(
      `plugin-host.capability.failed ${event.slug} after ${event.durationMs.toFixed(1)} ms: ${reason}`,
    );
  }
}
