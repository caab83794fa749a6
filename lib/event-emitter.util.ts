import type { ModuleRef } from '@nestjs/core';

/** The slice of `EventEmitter2` the module uses; the emitter is optional. */
export interface Emitter {
  emit(event: string, ...values: unknown[]): boolean;
}

/** `EventEmitter2` from `@nestjs/event-emitter` when the app registered it; the package is optional. */
export async function findEventEmitter(moduleRef: ModuleRef): Promise<Emitter | undefined> {
  try {
    const { EventEmitter2 } = await import('@nestjs/event-emitter');
    return moduleRef.get(EventEmitter2, { strict: false }) as Emitter;
  } catch {
    return undefined;
  }
}
