import { Injectable } from '@nestjs/common';
import { Capability, type CapabilityContext, type WorkflowDefinition } from '../../lib/index.js';

/** Side effects shared by every app in the process, so a resumed run can prove what ran once. */
export const effects = {
  created: [] as string[],
  deleted: [] as string[],
  welcomed: [] as string[],
  flaky: new Map<string, number>(),
  slowStarted: 0,
  reset() {
    this.created.length = 0;
    this.deleted.length = 0;
    this.welcomed.length = 0;
    this.flaky.clear();
    this.slowStarted = 0;
  },
};

@Injectable()
export class WorkflowSteps {
  @Capability('crm.create')
  create(input: { email: string }) {
    effects.created.push(input.email);
    return { id: `u-${effects.created.length}`, email: input.email };
  }

  @Capability('crm.delete')
  remove(input: { id: string; reason?: string }) {
    effects.deleted.push(`${input.id}:${input.reason ?? ''}`);
    return { deleted: input.id };
  }

  @Capability('greet.welcome')
  welcome(input: { to: string; userId: string }) {
    effects.welcomed.push(`${input.userId}->${input.to}`);
    return { sent: true, text: `Welcome ${input.to}` };
  }

  @Capability('flaky.call')
  flaky(input: { key: string; failTimes: number }) {
    const seen = (effects.flaky.get(input.key) ?? 0) + 1;
    effects.flaky.set(input.key, seen);
    if (seen <= input.failTimes) throw new Error(`flaky failure ${seen}`);
    return { attempt: seen };
  }

  @Capability('slowwf.wait')
  wait(input: { ms: number }, ctx: CapabilityContext) {
    effects.slowStarted++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ waited: input.ms }), input.ms);
      ctx.signal?.addEventListener('abort', () => clearTimeout(timer));
    });
  }

  /** Answers a value JSON cannot hold. */
  @Capability('boom.bigint')
  bigint(): { big: bigint } {
    return { big: 10n };
  }

  /** Throws an Error, or with `{ odd: true }` a null-prototype object (no `toString` at all). */
  @Capability('boom.fail')
  fail(input?: { odd?: boolean }): never {
    if (input?.odd) throw Object.assign(Object.create(null) as object, { reason: 'odd' });
    throw new Error('boom');
  }

  @Capability({ slug: 'users.onboard', workflow: 'onboarding' })
  onboard(input: { address: string }) {
    return { email: input.address };
  }
}

/** The onboarding workflow the tests and the sample share in spirit. */
export const ONBOARDING: WorkflowDefinition = {
  name: 'onboarding',
  description: 'Create the user, then welcome them',
  steps: [
    {
      id: 'create',
      capability: 'crm.create',
      with: { email: '{{input.email}}' },
      compensate: {
        capability: 'crm.delete',
        with: { id: '{{steps.create.output.id}}', reason: '{{error.code}}' },
      },
    },
    {
      id: 'welcome',
      capability: 'greet.welcome',
      with: { to: '{{input.email}}', userId: '{{steps.create.output.id}}' },
    },
  ],
};
