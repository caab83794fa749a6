import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { PLUGIN_SLUG_PATTERN } from '../plugin-host.constants.js';
import type { JsonObject } from '../entities/plugin.entity.js';

const SLUG_MESSAGE = '$property must be 1-63 lower-case letters, digits or dashes';

// Decorators apply bottom-up and the controller's ValidationPipe stops at a property's first
// failure, so each type check sits last (it runs first): `sort: "3"` is "not an integer", not "too
// large".

/** Fields `PATCH /plugins/:slug` may change. */
export class UpdatePluginDto {
  /** @example 'integration' */
  @IsOptional()
  @Matches(PLUGIN_SLUG_PATTERN, { message: SLUG_MESSAGE })
  @IsString()
  kind?: string;

  /** Show in the navigation. */
  @IsOptional()
  @IsBoolean()
  nav?: boolean;

  /** Navigation position (ascending). */
  @IsOptional()
  @Max(2_147_483_647)
  @Min(-2_147_483_647)
  @IsInt()
  sort?: number;

  /** English label, or `null` to fall back to the slug. */
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @MaxLength(255)
  @IsNotEmpty()
  @IsString()
  labelEn?: string | null;

  /** Arabic label, or `null` to fall back to the English one. */
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @MaxLength(255)
  @IsNotEmpty()
  @IsString()
  labelAr?: string | null;
}

/** Body of `POST /plugins`. */
export class RegisterPluginDto extends UpdatePluginDto {
  /** @example 'beta-dashboard' */
  @Matches(PLUGIN_SLUG_PATTERN, { message: SLUG_MESSAGE })
  @IsString()
  slug!: string;

  /** @default true */
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  /** Initial config: a JSON object. @default {} */
  @IsOptional()
  @IsObject()
  config?: JsonObject;
}

/** Body of `POST /plugins/:slug/toggle`: set `enabled`, or omit it to flip. */
export class TogglePluginDto {
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

/** Body of `PUT /nav/order`. */
export class ReorderPluginsDto {
  /** Plugin slugs in the wanted navigation order. */
  @Matches(PLUGIN_SLUG_PATTERN, {
    each: true,
    message: 'each value in slugs must be a plugin slug',
  })
  @IsString({ each: true })
  @ArrayMaxSize(100_000)
  @IsArray()
  slugs!: string[];
}
