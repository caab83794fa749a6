import type { Logger } from '@nestjs/common';
import { PluginHostError, PluginStoreUnavailableError } from './plugin-host.errors.js';

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
    logger.error(`${store} store operation failed: ${(error as Error)?.message ?? error}`);
    throw new PluginStoreUnavailableError(error);
  }
}
