import type { WorkflowDefinition } from 'nest-plugin-host';

/**
 * Create the customer, email a welcome, issue the first invoice. If a later step fails, the
 * customer record is deleted again (compensation).
 */
export const onboardingWorkflow: WorkflowDefinition = {
  name: 'onboarding',
  description: 'Create a customer, welcome them, issue their first invoice',
  steps: [
    {
      id: 'create',
      capability: 'customers.create',
      with: { name: '{{input.name}}', email: '{{input.email}}' },
      compensate: { capability: 'customers.delete', with: { id: '{{steps.create.output.id}}' } },
    },
    {
      id: 'welcome',
      capability: 'mail.send',
      with: {
        to: '{{steps.create.output.email}}',
        subject: 'Welcome, {{input.name}}',
        text: 'Your customer number is {{steps.create.output.id}}.',
      },
      retry: { attempts: 3, backoffMs: 200 },
      onError: 'continue',
    },
    {
      id: 'invoice',
      capability: 'billing.invoice',
      with: {
        customer: '{{steps.create.output.id}}',
        email: '{{input.email}}',
        lines: [{ description: 'First month', amount: '{{input.plan}}' }],
      },
      timeoutMs: 5000,
    },
  ],
};
