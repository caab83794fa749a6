import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import {
  Capability,
  HostedPlugin,
  PluginHostService,
  type CapabilityContext,
} from 'nest-plugin-host';
import type { MailInput, SentMail } from './mail.plugin.js';

type BillingConfig = {
  currency: string;
  /** 0.15 is 15 %. */
  taxRate: number;
  /** Email each invoice to the customer (while the mail plugin is enabled). */
  emailInvoices: boolean;
};

interface InvoiceLine {
  description: string;
  amount: number;
}

interface InvoiceInput {
  customer: string;
  email: string;
  lines: InvoiceLine[];
}

export interface Invoice {
  number: string;
  customer: string;
  email: string;
  currency: string;
  lines: InvoiceLine[];
  subtotal: number;
  tax: number;
  total: number;
  issuedAt: string;
  /** Id of the email that carried it; null when it was not emailed. */
  mailId: string | null;
}

const cents = (value: number) => Math.round(value * 100) / 100;

@HostedPlugin({
  slug: 'billing',
  kind: 'integration',
  labelEn: 'Billing',
  labelAr: 'الفواتير',
  nav: true,
  sort: 20,
  config: { currency: 'USD', taxRate: 0.15, emailInvoices: true },
})
@Injectable()
export class BillingPlugin {
  private readonly invoices = new Map<string, Invoice>();
  private counter = 0;

  constructor(private readonly host: PluginHostService) {}

  @Capability({
    slug: 'billing.invoice',
    description: 'Issues an invoice and emails it through mail.send',
  })
  async invoice(input: InvoiceInput, ctx: CapabilityContext<BillingConfig>): Promise<Invoice> {
    const problems = invoiceProblems(input);
    if (problems.length) throw new BadRequestException(problems);

    const { currency, taxRate, emailInvoices } = ctx.plugin.config;
    const subtotal = cents(input.lines.reduce((sum, line) => sum + line.amount, 0));
    const tax = cents(subtotal * taxRate);
    const invoice: Invoice = {
      number: `INV-${String(++this.counter).padStart(4, '0')}`,
      customer: input.customer,
      email: input.email,
      currency,
      lines: input.lines.map(({ description, amount }) => ({ description, amount })),
      subtotal,
      tax,
      total: cents(subtotal + tax),
      issuedAt: new Date().toISOString(),
      mailId: null,
    };

    // Billing degrades gracefully: with the mail plugin switched off, invoices are still issued.
    if (emailInvoices && this.host.isEnabled('mail')) {
      const mail = await ctx.run<MailInput, SentMail>('mail.send', {
        to: input.email,
        subject: `Invoice ${invoice.number}: ${invoice.total.toFixed(2)} ${currency}`,
        text: invoice.lines.map((l) => `${l.description}: ${l.amount.toFixed(2)}`).join('\n'),
      });
      invoice.mailId = mail.id;
    }
    this.invoices.set(invoice.number, invoice);
    return invoice;
  }

  @Capability({ slug: 'billing.lookup', description: 'Finds an invoice by number' })
  lookup(input: { number: string }): Invoice {
    const found = this.invoices.get(input.number);
    if (!found) throw new NotFoundException(`Invoice "${input.number}" does not exist.`);
    return found;
  }
}

function invoiceProblems(input: Partial<InvoiceInput>): string[] {
  const problems: string[] = [];
  if (typeof input.customer !== 'string' || !input.customer.trim()) {
    problems.push('customer must be a non-empty string');
  }
  if (typeof input.email !== 'string' || !input.email.includes('@')) {
    problems.push('email must be an email address');
  }
  if (!Array.isArray(input.lines) || input.lines.length === 0) {
    problems.push('lines must be a non-empty array');
  } else if (
    !input.lines.every(
      (l) => typeof l?.description === 'string' && typeof l.amount === 'number' && l.amount >= 0,
    )
  ) {
    problems.push('each line needs a description and a non-negative amount');
  }
  return problems;
}
