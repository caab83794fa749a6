import { BadRequestException, Injectable } from '@nestjs/common';
import { Capability, HostedPlugin } from 'nest-plugin-host';

interface Customer {
  id: string;
  name: string;
  email: string;
  createdAt: string;
}

/** Customer records, and the onboarding workflow as a capability. */
@HostedPlugin({
  slug: 'customers',
  kind: 'capability',
  labelEn: 'Customers',
  labelAr: 'العملاء',
  nav: true,
  sort: 5,
})
@Injectable()
export class CustomersPlugin {
  private readonly customers = new Map<string, Customer>();
  private counter = 0;

  @Capability({ slug: 'customers.create', description: 'Creates a customer record' })
  create(input: { name?: string; email?: string }): Customer {
    if (!input.name || !input.email) {
      throw new BadRequestException('customers.create needs "name" and "email".');
    }
    const customer = {
      id: `C-${String(++this.counter).padStart(4, '0')}`,
      name: input.name,
      email: input.email,
      createdAt: new Date().toISOString(),
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  @Capability({
    slug: 'customers.delete',
    description: 'Deletes a customer (onboarding compensation)',
  })
  delete(input: { id: string }): { deleted: boolean } {
    return { deleted: this.customers.delete(input.id) };
  }

  /** Runs the `onboarding` workflow; this method maps the capability's input to the workflow's. */
  @Capability({
    slug: 'customers.onboard',
    workflow: 'onboarding',
    description: 'Creates a customer, welcomes them and issues their first invoice',
  })
  onboard(input: { name: string; email: string; plan?: number }) {
    return { name: input.name, email: input.email, plan: input.plan ?? 49 };
  }
}
