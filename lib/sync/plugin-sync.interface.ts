import type { PluginChangeEvent } from '../interfaces/hosted-plugin.interface.js';

/** One record's new version, as announced between instances. Never carries the config. */
export interface PluginVersionNotice {
  slug: string;
  /** The version that was committed (for a deletion: the version that was deleted). */
  version: number;
  /** Whether the record was deleted. */
  deleted?: boolean;
}

/** What one instance tells the others after a commit. */
export interface PluginChangeNotice {
  /** The sender's instance id, so it can skip its own notices. */
  instance: string;
  /** The action of the change, so receivers emit the same event name. */
  action: PluginChangeEvent['action'];
  /** Who made the change. */
  actor: string;
  /** What changed: plugin records (the default) or workflow definitions (then `changes` is empty). */
  kind?: 'plugin' | 'workflow';
  changes: PluginVersionNotice[];
}

/**
 * A way for instances to tell each other about commits: PostgreSQL LISTEN/NOTIFY, Redis pub/sub.
 * Delivery may be lost (a connection drops): `onResync` then asks the host to reload everything, and
 * the polling safety net covers what is left.
 */
export interface PluginSyncTransport {
  /** For logs and metrics, e.g. `postgres-notify`. */
  readonly name: string;
  /**
   * Starts listening. `onNotice` gets every notice (including this instance's own); `onResync` is called
   * after a reconnect, when notices may have been missed.
   */
  start(onNotice: (notice: PluginChangeNotice) => void, onResync: () => void): Promise<void>;
  /** Announces a commit. */
  publish(notice: PluginChangeNotice): Promise<void>;
  /** Stops listening and closes its connections. */
  stop(): Promise<void>;
}

/** Encodes a notice compactly; PostgreSQL NOTIFY payloads must stay under 8000 bytes. */
export function encodeNotice(notice: PluginChangeNotice): string {
  return JSON.stringify({
    i: notice.instance,
    a: notice.action,
    u: notice.actor.slice(0, 200),
    ...(notice.kind === 'workflow' ? { k: 'w' } : {}),
    c: notice.changes.map((c) => (c.deleted ? [c.slug, c.version, 1] : [c.slug, c.version])),
  });
}

/** Decodes a notice, or `undefined` for anything malformed (a foreign publisher on the channel). */
export function decodeNotice(payload: string): PluginChangeNotice | undefined {
  try {
    const raw = JSON.parse(payload) as {
      i?: unknown;
      a?: unknown;
      u?: unknown;
      c?: unknown;
      k?: unknown;
    };
    if (typeof raw.i !== 'string' || typeof raw.a !== 'string' || !Array.isArray(raw.c))
      return undefined;
    const changes: PluginVersionNotice[] = [];
    for (const entry of raw.c) {
      if (
        !Array.isArray(entry) ||
        typeof entry[0] !== 'string' ||
        !Number.isSafeInteger(entry[1])
      ) {
        return undefined;
      }
      changes.push({ slug: entry[0], version: entry[1], deleted: entry[2] === 1 });
    }
    return {
      instance: raw.i,
      action: raw.a as PluginChangeNotice['action'],
      actor: typeof raw.u === 'string' ? raw.u : 'unknown',
      ...(raw.k === 'w' ? { kind: 'workflow' as const } : {}),
      changes,
    };
  } catch {
    return undefined;
  }
}

/** Splits a notice so each encoded part stays under `maxBytes`. */
export function splitNotice(notice: PluginChangeNotice, maxBytes = 7000): PluginChangeNotice[] {
  if (Buffer.byteLength(encodeNotice(notice)) <= maxBytes) return [notice];
  const parts: PluginChangeNotice[] = [];
  let current: PluginChangeNotice = { ...notice, changes: [] };
  for (const change of notice.changes) {
    const candidate = { ...current, changes: [...current.changes, change] };
    if (current.changes.length > 0 && Buffer.byteLength(encodeNotice(candidate)) > maxBytes) {
      parts.push(current);
      current = { ...notice, changes: [change] };
    } else {
      current = candidate;
    }
  }
  parts.push(current);
  return parts;
}
