import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { JsonObject, JsonValue } from './entities/plugin.entity.js';
import { locateSecrets, writeTrail } from './config-schema.util.js';

/** One encryption key: an id stored with every value it encrypts, and 32 bytes (base64 or hex). */
export interface PluginHostEncryptionKey {
  /** Short id written into each encrypted value, so old keys keep decrypting after a rotation. */
  id: string;
  /** 32 bytes: 44 base64 characters or 64 hex characters. */
  key: string;
}

/** Both formats' prefixes have this length, so the key id always starts right after it. */
const PREFIX_LENGTH = 'enc:v1:'.length;
/** Unbound (the first release): the ciphertext decrypts wherever it is put. */
const V1 = 'enc:v1:';
/** Bound to the plugin and the secret path it was sealed for (additional authenticated data). */
const V2 = 'enc:v2:';
const TAG_BYTES = 16;

/**
 * Where a secret belongs: a `v2` ciphertext decrypts only there, so someone able to write the
 * table cannot move one plugin's secret into another plugin (or another field) whose capability
 * would reveal it. The path is the declared pattern (`accounts[].password`), not the element's
 * index, so reordering an array does not break its secrets.
 */
export interface SecretPlace {
  slug: string;
  path: string;
}

const aadOf = (place: SecretPlace) => Buffer.from(`nest-plugin-host\0${place.slug}\0${place.path}`);

/**
 * AES-256-GCM for secret config values at rest. The first key encrypts; every key decrypts (by the id
 * stored in the value), which is what makes rotation possible: put the new key first, call
 * `PluginHostService.reencryptSecrets()`, then drop the old key.
 */
export class SecretCipher {
  private readonly keys = new Map<string, Buffer>();
  private readonly current: string;

  constructor(keys: readonly PluginHostEncryptionKey[]) {
    if (keys.length === 0) throw new Error('encryptionKeys: give at least one key.');
    for (const { id, key } of keys) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
        throw new Error(`encryptionKeys: id "${id}" must be 1-32 letters, digits, "-" or "_".`);
      }
      const bytes = /^[0-9a-f]{64}$/i.test(key)
        ? Buffer.from(key, 'hex')
        : Buffer.from(key, 'base64');
      if (bytes.length !== 32) throw new Error(`encryptionKeys: key "${id}" is not 32 bytes.`);
      this.keys.set(id, bytes);
    }
    this.current = keys[0].id;
  }

  /** Whether `value` is something this cipher wrote. */
  static isEncrypted(value: unknown): value is string {
    return typeof value === 'string' && (value.startsWith(V2) || value.startsWith(V1));
  }

  /** The id of the key a stored value was encrypted with. */
  static keyIdOf(value: string): string {
    return value.slice(PREFIX_LENGTH).split(':', 1)[0];
  }

  get currentKeyId(): string {
    return this.current;
  }

  /** Encrypts `value`; with `place`, bound to it (`enc:v2:`), else unbound (`enc:v1:`). */
  encrypt(value: JsonValue, place?: SecretPlace): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.current)!, iv);
    if (place) cipher.setAAD(aadOf(place));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${place ? V2 : V1}${this.current}:${iv.toString('base64')}:${tag.toString('base64')}:${body.toString('base64')}`;
  }

  /** Decrypts a value `encrypt` wrote; a bound one only for the `place` it was sealed for. */
  decrypt(value: string, place?: SecretPlace): JsonValue {
    const bound = value.startsWith(V2);
    if (bound && !place) throw new Error('this value is bound to a plugin and a path');
    const [id, iv, tag, body] = value.slice(PREFIX_LENGTH).split(':');
    const key = this.keys.get(id);
    if (!key) throw new Error(`no encryption key with id "${id}"`);
    // The full 16-byte tag only: GCM would take one as short as 4 bytes, which someone able to
    // write the table could forge with about 2^32 tries.
    const authTag = Buffer.from(tag ?? '', 'base64');
    if (authTag.length !== TAG_BYTES) throw new Error('the authentication tag is not 16 bytes');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(authTag);
    if (bound) decipher.setAAD(aadOf(place!));
    const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
    return JSON.parse(text.toString('utf8')) as JsonValue;
  }

  /**
   * A copy of `config` with each present secret encrypted: bound to plugin `slug` and its path when
   * `slug` is given (`enc:v2:`), else unbound (`enc:v1:`). Values already encrypted, such as one
   * whose key is gone, are kept.
   */
  seal(config: JsonObject, paths: readonly string[], slug?: string): JsonObject {
    return this.map(config, paths, (value, _label, path) =>
      SecretCipher.isEncrypted(value)
        ? value
        : this.encrypt(value, slug === undefined ? undefined : { slug, path }),
    );
  }

  /**
   * A copy of `config` with each encrypted secret decrypted. A value that does not decrypt (its key
   * is gone, it was tampered with) stays as it is and is reported to `failed`: the others still
   * decrypt.
   */
  open(
    config: JsonObject,
    paths: readonly string[],
    slug?: string,
    failed: (path: string, error: Error) => void = (_path, error) => {
      throw error;
    },
  ): JsonObject {
    return this.map(config, paths, (value, label, path) => {
      if (!SecretCipher.isEncrypted(value)) return value;
      const place = slug === undefined ? undefined : { slug, path };
      try {
        const plain = this.decrypt(value, place);
        // An instance of the first release took an `enc:v2:` value for plain text and sealed it
        // again as `enc:v1:` (a rolling upgrade without `bindSecrets: false`): unwrap it. A secret
        // that merely starts like one (the first release accepted `enc:v2:…` from clients) is the
        // value itself: the outer layer already authenticated it.
        if (!SecretCipher.isEncrypted(plain)) return plain;
        try {
          return this.decrypt(plain, place);
        } catch {
          return plain;
        }
      } catch (error) {
        failed(label, error as Error);
        return value;
      }
    });
  }

  private map(
    config: JsonObject,
    paths: readonly string[],
    change: (value: JsonValue, label: string, path: string) => JsonValue,
  ): JsonObject {
    let copy: JsonObject | undefined;
    for (const path of paths) {
      for (const { value, trail, label } of locateSecrets(config, path)) {
        if (value === undefined || value === null) continue;
        const next = change(value, label, path);
        if (next === value) continue;
        copy ??= structuredClone(config);
        writeTrail(copy, trail, next);
      }
    }
    return copy ?? config;
  }
}

/**
 * The secret paths of `config` (a patch or a new record's config, as a client sends it) whose value
 * looks like one this module encrypted. Such a value would be stored as it is (sealing keeps what is
 * already sealed) and then fail to decrypt: it is refused instead.
 */
export function sealedLookalikes(config: JsonObject, paths: readonly string[]): string[] {
  return paths.flatMap((path) =>
    locateSecrets(config, path)
      .filter(({ value }) => SecretCipher.isEncrypted(value))
      .map(({ label }) => label),
  );
}
