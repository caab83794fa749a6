import { Type } from 'class-transformer';
import { IsArray, IsOptional, IsString, ValidateNested } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { Secret, SECRET_MASK } from '../../lib/index.js';
import {
  locateSecrets,
  maskSecrets,
  restoreMaskedSecrets,
  secretPaths,
} from '../../lib/config-schema.util.js';

class Member {
  @IsString() name!: string;
  @Secret() @IsString() token!: string;
}
class Group {
  @Secret() @IsOptional() @IsString() key?: string;
  @IsArray() @ValidateNested({ each: true }) @Type(() => Member) members!: Member[];
}
class Settings {
  @IsArray() @ValidateNested({ each: true }) @Type(() => Group) groups!: Group[];
  /** An array without @Type: its elements are not followed. */
  @IsOptional() @IsArray() plain?: unknown[];
  @IsOptional() @IsArray() @IsString({ each: true }) tags?: string[];
}

describe('secret paths through arrays', () => {
  it('follows arrays of classes through their @Type, as name[]', () => {
    expect(secretPaths(Settings, ['tags[]'])).toEqual([
      'groups[].key',
      'groups[].members[].token',
      'tags[]',
    ]);
  });

  it('locates every element, masks them, and leaves other shapes alone', () => {
    const config = {
      groups: [
        { key: 'k0', members: [{ name: 'a', token: 't0' }, { name: 'b' }] },
        { members: 'not an array' },
        'not an object',
      ],
      tags: ['x', null],
    };
    const paths = secretPaths(Settings, ['tags[]']);
    expect(locateSecrets(config as never, 'groups[].members[].token').map((l) => l.label)).toEqual([
      'groups[0].members[0].token',
    ]);
    expect(maskSecrets(config as never, paths)).toEqual({
      groups: [
        { key: SECRET_MASK, members: [{ name: 'a', token: SECRET_MASK }, { name: 'b' }] },
        { members: 'not an array' },
        'not an object',
      ],
      tags: [SECRET_MASK, null],
    });
    // The input is not changed.
    expect(config.groups[0]).toMatchObject({ key: 'k0' });
  });

  it('restores masked array secrets from the matching stored elements, new ones added', () => {
    const current = { groups: [{ key: 'k0', members: [{ name: 'a', token: 't0' }] }] };
    const patch = {
      groups: [
        {
          key: SECRET_MASK,
          members: [
            { name: 'a', token: SECRET_MASK },
            { name: 'n', token: 'new' },
          ],
        },
      ],
    };
    expect(restoreMaskedSecrets(patch as never, secretPaths(Settings), current as never)).toEqual({
      groups: [
        {
          key: 'k0',
          members: [
            { name: 'a', token: 't0' },
            { name: 'n', token: 'new' },
          ],
        },
      ],
    });
    expect(patch.groups[0].key).toBe(SECRET_MASK);
  });

  it('tells elements apart by nested fields, and matches duplicates one to one', () => {
    const paths = ['endpoints[].token', 'accounts[].password'];
    const current = {
      endpoints: [
        { server: { host: 'a.example' }, token: 'tok-A' },
        { server: { host: 'b.example' }, token: 'tok-B' },
      ],
      accounts: [
        { user: 'ada', password: 'p1' },
        { user: 'bob', password: 'pb' },
        { user: 'ada', password: 'p2' },
      ],
    };
    const mask = (value: object) => ({ ...value, token: SECRET_MASK });
    // Swapped endpoints keep their own tokens.
    expect(
      restoreMaskedSecrets(
        { endpoints: [mask(current.endpoints[1]), mask(current.endpoints[0])] } as never,
        paths,
        current as never,
      ),
    ).toMatchObject({
      endpoints: [{ token: 'tok-B' }, { token: 'tok-A' }],
    });
    // An endpoint whose server changed is not the stored one.
    expect(() =>
      restoreMaskedSecrets(
        { endpoints: [{ server: { host: 'evil.example' }, token: SECRET_MASK }] } as never,
        paths,
        current as never,
      ),
    ).toThrow(/config\.endpoints\[0\]\.token/);
    // Removing bob: the two adas keep p1 and p2, each its own.
    const ada = { user: 'ada', password: SECRET_MASK };
    expect(
      restoreMaskedSecrets({ accounts: [ada, ada] } as never, paths, current as never),
    ).toEqual({
      accounts: [
        { user: 'ada', password: 'p1' },
        { user: 'ada', password: 'p2' },
      ],
    });
    // A third ada has no stored element left to stand for.
    expect(() =>
      restoreMaskedSecrets({ accounts: [ada, ada, ada] } as never, paths, current as never),
    ).toThrow(/config\.accounts\[2\]\.password/);
  });

  it('keeps only the outer of two secret paths one inside the other', () => {
    const paths = secretPaths(undefined, ['smtp.password', 'smtp', 'accounts[]', 'accounts[].pin']);
    expect(paths).toEqual(['accounts[]', 'smtp']);
    expect(
      maskSecrets({ smtp: { host: 'mx', password: 'pw' }, accounts: [{ pin: 1 }] }, paths),
    ).toEqual({ smtp: SECRET_MASK, accounts: [SECRET_MASK] });
  });

  it('drops the paths under a secret array, however they are written', () => {
    expect(secretPaths(undefined, ['accounts', 'accounts[].pin', 'tokens', 'tokens[]'])).toEqual([
      'accounts',
      'tokens',
    ]);
    expect(
      maskSecrets(
        { accounts: [{ pin: 1 }] },
        secretPaths(undefined, ['accounts', 'accounts[].pin']),
      ),
    ).toEqual({ accounts: SECRET_MASK });
  });

  it('pairs every sent element with a stored one before restoring any secret', () => {
    const paths = ['accounts[].password', 'accounts[].pin'];
    const current = {
      accounts: [
        { user: 'bob', password: 'pb', pin: 'nb' },
        { user: 'ada', password: 'p1', pin: 'n1' },
        { user: 'ada', password: 'p2', pin: 'n2' },
      ],
    };
    // bob removed; the first ada changed her password and kept her pin.
    const sent = {
      accounts: [
        { user: 'ada', password: 'new', pin: SECRET_MASK },
        { user: 'ada', password: SECRET_MASK, pin: SECRET_MASK },
      ],
    };
    expect(restoreMaskedSecrets(sent as never, paths, current as never)).toEqual({
      accounts: [
        { user: 'ada', password: 'new', pin: 'n1' },
        { user: 'ada', password: 'p2', pin: 'n2' },
      ],
    });
  });
});
