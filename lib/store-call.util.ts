import type { Logger } from '@nestjs/common';
import { PluginHostError, PluginStoreUnavailableError } from './plugin-host.errors.js';
import { describeThrown } from './thrown.util.js';

/**
 * Runs a store operation. The module's own errors pass through; anything else means the store is
 * unreachable: it is logged and becomes `PluginStoreUnavailableError` (HTTP 503).
 */
export async function callStore<T>(
  operation: () => Promise<T>,
  logger: Logger,
  store: string,
): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof PluginHostError) throw error;
    logger.error(`${store} store operation failed: ${describeThrown(error)}`);
    throw new PluginStoreUnavailableError(error);
  }
}
