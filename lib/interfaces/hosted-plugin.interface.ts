import type { Type } from '@nestjs/common';
import type { JsonObject } from '../entities/plugin.entity.js';

/**
 * A plugin record as code declares it: the defaults written when the slug has no record yet. A restart
 * never overwrites what an admin changed.
 */
export interface HostedPluginOptions {
  /** Plugin slug. @example 'newsletter' */
  slug: string;
  /** @default 'capability' */
  kind?: string;
  /** @default true */
  enabled?: boolean;
  /** Initial config. @default {} */
  config?: JsonObject;
  /** Show in `nav()`. @default false */
  nav?: boolean;
  /** Nav position. @default 0 */
  sort?: number;
  /** @example 'Newsletter' */
  labelEn?: string | null;
  /** @example 'النشرة الإخبارية' */
  labelAr?: string | null;
  /**
   * A class-validator class describing the config. `configure` and `register` validate the whole
   * merged config against it and answer 400 listing every violation; unknown keys are refused.
   */
  configSchema?: Type;
  /**
   * Dotted paths of secret config fields, besides those marked `@Secret()` in `configSchema`.
   * @example ['smtp.password']
   */
  secrets?: string[];
}

/** Fields `update()` / `PATCH /plugins/:slug` may change. */
export interface PluginChanges {
  kind?: string;
  nav?: boolean;
  sort?: number;
  labelEn?: string | null;
  labelAr?: string | null;
}

/** Options every mutation accepts. */
export interface MutationOptions {
  /**
   * The version the caller last saw. If the plugin has moved on, the call fails with
   * `PluginVersionConflictError` (HTTP 412) and writes nothing.
   */
  expectedVersion?: number;
  /** Who made the change; carried in events. @default 'system' */
  actor?: string;
}

/** Options of `reorder()`. */
export interface ReorderOptions extends MutationOptions {
  /**
   * The navigation fingerprint the caller last saw (`navFingerprint()`; over REST, the `ETag` of
   * `GET /nav`). If the navigation has changed since, checked against the store, the call fails with
   * `PluginNavOrderConflictError` (HTTP 412) and writes nothing.
   */
  expectedNavFingerprint?: string;
}

/** One navigation entry from `nav()`. */
export interface NavItem {
  /** @example 'newsletter' */
  slug: string;
  /** Arabic when asked for `ar` and set; else English; else the slug. */
  label: string;
  /** `rtl` for Arabic labels, else `ltr`. */
  dir: 'ltr' | 'rtl';
  /** The plugin's sort value. */
  sort: number;
}

/** What the module emits through `EventEmitter2` on every change. */
export interface PluginChangeEvent {
  /** Event name without prefix: `enabled`, `disabled`, `configured`, `updated`, `registered`, `removed`, `reordered`. */
  action:
    'enabled' | 'disabled' | 'configured' | 'updated' | 'registered' | 'removed' | 'reordered';
  slug: string;
  /** The record before the change; `null` for `registered`. */
  before: Readonly<import('../entities/plugin.entity.js').Plugin> | null;
  /** The record after the change; `null` for `removed`. */
  after: Readonly<import('../entities/plugin.entity.js').Plugin> | null;
  /** `local` for a change made by this instance. */
  origin: 'local' | 'remote';
  /** Who made it. */
  actor: string;
}

/** Payload of `plugin-host.capability.failed`. */
export interface CapabilityFailedEvent {
  slug: string;
  plugin: string;
  error: unknown;
  actor: string;
  durationMs: number;
}
