import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** One file of the admin page, read once and kept in memory. */
export interface UiAsset {
  body: string;
  type: string;
  /** Strong validator of the content, for `If-None-Match`. */
  etag: string;
}

/** The files the admin page consists of; nothing else under `ui/` is ever served. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * The admin page's files, next to this module: `dist/ui/` in the installed package (copied there by
 * the build), `lib/ui/` when the sources run directly (tests).
 */
const UI_DIR = new URL('./ui/', import.meta.url);

const cache = new Map<string, UiAsset>();

/** The named file of the admin page, or `undefined` for any name not on the list. */
export function uiAsset(name: string): UiAsset | undefined {
  if (!Object.hasOwn(FILES, name)) return undefined;
  let asset = cache.get(name);
  if (!asset) {
    const body = readFileSync(new URL(name, UI_DIR), 'utf8');
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    asset = { body, type: FILES[name], etag };
    cache.set(name, asset);
  }
  return asset;
}
