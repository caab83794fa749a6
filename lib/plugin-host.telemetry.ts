import { Logger } from '@nestjs/common';

/** The slices of `@opentelemetry/api` used here (an optional peer: loaded only if installed). */
interface Span {
  setAttribute(key: string, value: string | number): unknown;
  recordException(error: unknown): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
interface Tracer {
  startActiveSpan<T>(name: string, options: object, run: (span: Span) => T): T;
}
interface Histogram {
  record(value: number, attributes: Record<string, string>): void;
}
interface OpenTelemetryApi {
  trace: { getTracer(name: string, version?: string): Tracer; getTracerProvider(): unknown };
  metrics: {
    getMeter(
      name: string,
      version?: string,
    ): { createHistogram(name: string, options: object): Histogram };
    getMeterProvider(): unknown;
  };
  SpanKind: { INTERNAL: number };
  SpanStatusCode: { ERROR: number };
}

const NAME = 'nest-plugin-host';

/**
 * Spans and a duration histogram around capability runs, through `@opentelemetry/api`. Off (and free)
 * unless the package is installed and the app registered an SDK before the module bootstrapped.
 */
export class PluginHostTelemetry {
  private constructor(
    private readonly api: OpenTelemetryApi,
    private readonly tracer: Tracer,
    private readonly duration: Histogram | undefined,
  ) {}

  /** A telemetry instance when tracing is wanted and possible, else `undefined`. */
  static async detect(wanted: boolean | 'auto'): Promise<PluginHostTelemetry | undefined> {
    if (wanted === false) return undefined;
    let api: OpenTelemetryApi;
    try {
      api = (await import('@opentelemetry/api')) as unknown as OpenTelemetryApi;
    } catch {
      if (wanted === true) {
        new Logger('PluginHost').warn('tracing: true needs the @opentelemetry/api package.');
      }
      return undefined;
    }
    const tracing = wanted === true || isRegistered(api.trace.getTracerProvider());
    const metering = wanted === true || isRegistered(api.metrics.getMeterProvider());
    if (!tracing && !metering) return undefined;
    const duration = metering
      ? api.metrics.getMeter(NAME).createHistogram('plugin_host.capability.duration', {
          description: 'Duration of capability runs',
          unit: 'ms',
        })
      : undefined;
    return new PluginHostTelemetry(api, api.trace.getTracer(NAME), duration);
  }

  /** Runs `work` inside a span named after the capability, recording outcome and duration. */
  run<T>(slug: string, plugin: string | undefined, work: () => Promise<T>): Promise<T> {
    const attributes = {
      'plugin_host.capability': slug,
      'plugin_host.plugin': plugin ?? 'unknown',
    };
    return this.tracer.startActiveSpan(
      `capability ${slug}`,
      { kind: this.api.SpanKind.INTERNAL, attributes },
      async (span) => {
        const started = performance.now();
        let outcome = 'ok';
        try {
          return await work();
        } catch (error) {
          outcome = (error as { code?: unknown })?.code === 'PLUGIN_DISABLED' ? 'refused' : 'error';
          span.recordException(error as Error);
          span.setStatus({
            code: this.api.SpanStatusCode.ERROR,
            message: (error as Error)?.message,
          });
          throw error;
        } finally {
          const ms = performance.now() - started;
          span.setAttribute('plugin_host.outcome', outcome);
          span.setAttribute('plugin_host.duration_ms', ms);
          span.end();
          this.duration?.record(ms, { ...attributes, 'plugin_host.outcome': outcome });
        }
      },
    );
  }
}

/** Whether a real provider (not the API's no-op default) is registered. */
function isRegistered(provider: unknown): boolean {
  const delegate = (provider as { getDelegate?: () => unknown })?.getDelegate?.() ?? provider;
  const name = (delegate as object | undefined)?.constructor?.name ?? '';
  return !name.startsWith('Noop');
}
