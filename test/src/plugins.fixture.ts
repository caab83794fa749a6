import { HttpException, Injectable, Scope, Controller, Inject } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';
import { Capability, HostedPlugin, Secret, type CapabilityContext } from '../../lib/index.js';

@HostedPlugin({
  slug: 'newsletter',
  kind: 'capability',
  labelEn: 'Newsletter',
  labelAr: 'النشرة الإخبارية',
  nav: true,
  sort: 10,
  config: { from: 'news@example.com' },
})
@Injectable()
export class NewsletterPlugin {
  calls = 0;

  @Capability({ slug: 'newsletter.send', description: 'Queues a newsletter' })
  async send(input: { subject: string }, ctx: CapabilityContext) {
    this.calls++;
    const mail = await ctx.run<unknown, { sent: boolean }>('mail.deliver', {
      to: 'all',
      subject: input.subject,
    });
    return { queued: true, from: ctx.plugin.config.from, subject: input.subject, mail };
  }

  @Capability('newsletter.fail')
  fail(): never {
    throw new Error('database password is hunter2');
  }

  @Capability('newsletter.teapot')
  teapot(): never {
    throw new HttpException({ message: 'I am a teapot', code: 'TEAPOT' }, 418);
  }

  @Capability('newsletter.echo')
  echo(input: unknown, ctx: CapabilityContext) {
    return { input, slug: ctx.slug, actor: ctx.actor, depth: ctx.depth };
  }

  @Capability('newsletter.loop')
  loop(input: unknown, ctx: CapabilityContext) {
    return ctx.run('newsletter.loop', input);
  }
}

@HostedPlugin({ slug: 'mail', labelEn: 'Mail', nav: true, sort: 20 })
@Injectable()
export class MailPlugin {
  @Capability('mail.deliver')
  deliver(input: { to: string; subject: string }) {
    return { sent: true, to: input.to };
  }
}

/** A capability with no @HostedPlugin: owner implied from the slug ("billing"). */
@Injectable()
export class BillingService {
  @Capability({ slug: 'billing.charge', description: 'Charges a card' })
  charge(input: { amount: number }) {
    return { charged: input.amount };
  }

  @Capability({ slug: 'reports.daily', plugin: 'analytics' })
  daily() {
    return { rows: 3 };
  }
}

/** A controller that hosts a capability. */
@Controller('fixture')
export class FixtureController {
  @Capability('ops.ping')
  ping() {
    return 'pong';
  }
}

let scopedInstances = 0;
/** Request-scoped host: resolved per call. */
@Injectable({ scope: Scope.REQUEST })
export class ScopedPlugin {
  readonly id = ++scopedInstances;
  constructor(@Inject(REQUEST) private readonly request: { headers?: Record<string, string> }) {}

  @Capability('scoped.whoami')
  whoami() {
    return { instance: this.id, header: this.request?.headers?.['x-user'] ?? null };
  }
}

/** Slow and signal-aware capabilities for timeout tests (not in the default app). */
@HostedPlugin({ slug: 'slow' })
@Injectable()
export class SlowPlugin {
  aborted: unknown[] = [];

  @Capability({ slug: 'slow.wait', timeoutMs: 100 })
  wait(input: { ms?: number }, ctx: CapabilityContext) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ waited: input.ms }), input.ms ?? 10_000);
      ctx.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        this.aborted.push(ctx.signal?.reason);
      });
    });
  }

  @Capability('slow.default')
  defaultLimit(input: { ms?: number }) {
    return new Promise((resolve) => setTimeout(() => resolve('done'), input.ms ?? 10));
  }
}

export class SmtpSettings {
  @IsString()
  host!: string;

  @IsInt()
  @Min(1)
  @Max(65535)
  port!: number;

  @Secret()
  @IsOptional()
  @IsString()
  password?: string;
}

export class VaultConfig {
  @IsOptional()
  @ValidateNested()
  @Type(() => SmtpSettings)
  smtp?: SmtpSettings;

  @Secret()
  @IsOptional()
  @IsString()
  apiKey?: string;

  @IsOptional()
  @IsString()
  region?: string;

  @IsOptional()
  @IsObject()
  legacy?: Record<string, string>;
}

/** A plugin with a config schema and secrets (not in the default app). */
@HostedPlugin({
  slug: 'vault',
  configSchema: VaultConfig,
  secrets: ['legacy.token'],
  config: { region: 'eu' },
})
@Injectable()
export class VaultPlugin {
  @Capability('vault.reveal')
  reveal(_input: unknown, ctx: CapabilityContext) {
    return ctx.plugin.config;
  }
}
