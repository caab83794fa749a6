import { BadRequestException, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Capability, HostedPlugin, type CapabilityContext } from 'nest-plugin-host';

type MailConfig = {
  /** Sender used when the caller gives none. */
  from: string;
  /** `log` keeps messages in memory and logs them; anything else fails (the sample has no SMTP). */
  transport: string;
  /** Prefixed to every subject, e.g. `[staging]`. */
  subjectPrefix: string;
};

export interface MailInput {
  to: string;
  subject: string;
  text?: string;
  from?: string;
}

export interface SentMail {
  id: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  sentAt: string;
  /** The capability that asked for this message, if any. */
  via: string | null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

@HostedPlugin({
  slug: 'mail',
  kind: 'integration',
  labelEn: 'Mail',
  labelAr: 'البريد',
  nav: true,
  sort: 30,
  config: { from: 'no-reply@example.com', transport: 'log', subjectPrefix: '' },
})
@Injectable()
export class MailPlugin {
  private readonly logger = new Logger('MailPlugin');
  private readonly sent: SentMail[] = [];

  @Capability({ slug: 'mail.send', description: 'Sends one email (the sample only logs it)' })
  send(input: MailInput, ctx: CapabilityContext<MailConfig>): SentMail {
    if (typeof input.to !== 'string' || !EMAIL.test(input.to)) {
      throw new BadRequestException('mail.send needs "to": an email address.');
    }
    if (typeof input.subject !== 'string' || input.subject.trim() === '') {
      throw new BadRequestException('mail.send needs a non-empty "subject".');
    }
    const { from, transport, subjectPrefix } = ctx.plugin.config;
    if (transport !== 'log') {
      throw new Error(`Mail transport "${transport}" is not available in the sample app.`);
    }
    const mail: SentMail = {
      id: randomUUID(),
      from: input.from ?? from,
      to: input.to,
      subject: subjectPrefix ? `${subjectPrefix} ${input.subject}` : input.subject,
      text: input.text ?? '',
      sentAt: new Date().toISOString(),
      via: ctx.parent?.slug ?? null,
    };
    this.sent.push(mail);
    if (this.sent.length > 100) this.sent.shift();
    this.logger.log(`${mail.from} -> ${mail.to}: ${mail.subject}`);
    return mail;
  }

  @Capability({ slug: 'mail.outbox', description: 'The most recent messages sent, newest first' })
  outbox(input: { limit?: number }): SentMail[] {
    const limit = Number.isInteger(input?.limit) && input.limit! > 0 ? input.limit! : 10;
    return this.sent.toReversed().slice(0, limit);
  }
}
