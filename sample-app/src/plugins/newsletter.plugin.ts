import { BadRequestException, Injectable } from '@nestjs/common';
import { Capability, HostedPlugin, type CapabilityContext } from 'nest-plugin-host';
import type { MailInput, SentMail } from './mail.plugin.js';

type NewsletterConfig = {
  from: string;
  recipients: string[];
  footer: string;
};

@HostedPlugin({
  slug: 'newsletter',
  kind: 'capability',
  labelEn: 'Newsletter',
  labelAr: 'النشرة الإخبارية',
  nav: true,
  sort: 10,
  config: {
    from: 'news@example.com',
    recipients: ['ada@example.com', 'grace@example.com'],
    footer: 'You receive this because you subscribed.',
  },
})
@Injectable()
export class NewsletterPlugin {
  @Capability({
    slug: 'newsletter.send',
    description: 'Sends an issue to every recipient in the config, through mail.send',
  })
  async send(input: { subject: string; body?: string }, ctx: CapabilityContext<NewsletterConfig>) {
    if (typeof input.subject !== 'string' || input.subject.trim() === '') {
      throw new BadRequestException('newsletter.send needs a non-empty "subject".');
    }
    const { from, recipients, footer } = ctx.plugin.config;
    const text = [input.body ?? '', footer].filter(Boolean).join('\n\n');
    const messages: string[] = [];
    for (const to of recipients) {
      const mail = await ctx.run<MailInput, SentMail>('mail.send', {
        to,
        from,
        subject: input.subject,
        text,
      });
      messages.push(mail.id);
    }
    return { subject: input.subject, from, sent: messages.length, messages };
  }

  @Capability({ slug: 'newsletter.recipients', description: 'Who the next issue goes to' })
  recipients(_input: unknown, ctx: CapabilityContext<NewsletterConfig>) {
    return { recipients: ctx.plugin.config.recipients };
  }
}
