import { Inject, Injectable, type PipeTransform } from '@nestjs/common';
import { PLUGIN_HOST_RESOLVED_OPTIONS } from './plugin-host.module-definition.js';
import type { ResolvedPluginHostOptions } from './interfaces/plugin-host-options.interface.js';
import { isPlainObject, jsonViolationDetails, jsonViolationError } from './json.util.js';
import { PluginValidationError } from './plugin-host.errors.js';

/**
 * First pipe on every REST body: it must be a JSON object (an absent body counts as `{}`), no deeper
 * than `maxJsonDepth`, and free of `__proto__`/`constructor`/`prototype` keys at any depth. It runs
 * before class-transformer ever sees the body. Its refusals list each problem's path (`body.a.b`) in
 * `details`.
 */
@Injectable()
export class PluginHostBodyPipe implements PipeTransform<unknown, Record<string, unknown>> {
  constructor(
    @Inject(PLUGIN_HOST_RESOLVED_OPTIONS) private readonly options: ResolvedPluginHostOptions,
  ) {}

  transform(value: unknown): Record<string, unknown> {
    if (value === undefined || value === '') return {};
    if (!isPlainObject(value)) {
      throw new PluginValidationError('The request body must be a JSON object.');
    }
    const problems = jsonViolationDetails(
      value,
      this.options.maxJsonDepth,
      'body',
      this.options.maxJsonKeys,
    );
    if (problems.length) throw jsonViolationError(problems);
    return value;
  }
}
