import type { Context } from 'aws-lambda';
import type { Config } from '../../functions/commons/config/schema.ts';
import { BalanceChangesHandoff } from '../../functions/commons/customers/handoff.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../../infra/limits.ts';
import { lambdaContext, snsEvent } from './events.ts';
import { FUNCTION_NAMES, type FunctionName } from './function-names.ts';
import { parseSchedule } from './schedule.ts';
import type { ScheduledJob } from './scheduler.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const SPECS: Record<
  FunctionName,
  {
    schedule?: keyof Config['schedules'];
    /** One invocation at a time (reserved concurrency 1 in AWS); every scheduled one is. */
    serial?: boolean;
    load: (invoker: Invoker) => Promise<{ handler: unknown }>;
  }
> = {
  'poll-totals': {
    schedule: 'pollTotals',
    load: () => import('../../functions/poll-totals.ts'),
  },
  'poll-usage': {
    schedule: 'pollUsage',
    load: () => import('../../functions/poll-usage.ts'),
  },
  'poll-customers': {
    schedule: 'pollCustomers',
    load: async (invoker) => {
      const { createPollCustomersHandler } = await import('../../functions/poll-customers.ts');
      return { handler: createPollCustomersHandler(() => localHandoff(invoker)) };
    },
  },
  'customer-actions': {
    serial: true,
    load: () => import('../../functions/customer-actions.ts'),
  },
  reconcile: {
    schedule: 'reconcile',
    load: () => import('../../functions/reconcile.ts'),
  },
  'payment-webhook': {
    load: () => import('../../functions/payment-webhook.ts'),
  },
  // Plain http here: the page's cookies cannot be Secure (in AWS they always are).
  portal: {
    load: async () => {
      const { createPortalHandler, portalDepsFromEnv } = await import('../../functions/portal.ts');
      return { handler: createPortalHandler(() => portalDepsFromEnv(false)) };
    },
  },
};

/**
 * Where AWS publishes the balance changes to a topic that customer-actions is subscribed to,
 * here each message goes to the same handler as the same SNS event, and the poll waits for
 * it: one local invocation of poll-customers shows the notices and top-ups it led to, and a
 * listener that failed shows in its result.
 */
function localHandoff(invoker: Invoker): BalanceChangesHandoff {
  return new BalanceChangesHandoff(async (body) => {
    const result = (await invoker.invoke(
      'customer-actions',
      snsEvent('balance-changes', body),
    )) as {
      listenerFailures?: { name: string; message: string }[];
    };
    const failures = result?.listenerFailures ?? [];
    if (failures.length) {
      throw new Error(failures.map((f) => `${f.name}: ${f.message}`).join('; '));
    }
  });
}

/**
 * Runs the real handlers in this process. A scheduled function (and customer-actions) runs
 * once at a time, like its reserved concurrency of 1 in AWS: a second invocation waits for
 * the first to finish.
 * payment-webhook runs concurrently, as behind API Gateway, so duplicate deliveries race
 * for the order exactly as they would in AWS.
 */
export class Invoker {
  private readonly handlers = new Map<FunctionName, Handler>();
  /** The one run of each scheduled function, while it lasts. */
  private readonly exclusive = new Map<FunctionName, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();

  async load(): Promise<void> {
    for (const name of FUNCTION_NAMES) {
      const mod = await SPECS[name].load(this);
      if (typeof mod.handler !== 'function') throw new Error(`${name} exports no handler`);
      this.handlers.set(name, mod.handler as Handler);
    }
  }

  isRunning(name: FunctionName): boolean {
    return this.exclusive.has(name);
  }

  async invoke(name: FunctionName, event: unknown): Promise<unknown> {
    const spec = SPECS[name];
    const serial = spec.serial === true || spec.schedule !== undefined;
    while (serial && this.exclusive.has(name)) {
      await this.exclusive.get(name)?.catch(() => undefined);
    }
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`${name} is not loaded`);
    const run = handler(event, lambdaContext(name, FUNCTION_TIMEOUT_SECONDS[name] * 1000));
    if (serial) this.exclusive.set(name, run);
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      if (serial) this.exclusive.delete(name);
      this.inFlight.delete(run);
    }
  }

  /** Resolves once nothing is running (for a clean shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}

/**
 * The scheduled functions with their configured schedules. An expression this runtime cannot
 * honour, or one that never fires, is a ConfigError naming its key, raised before anything
 * starts.
 */
export function schedules(config: Config, now = new Date()): ScheduledJob[] {
  const out: ScheduledJob[] = [];
  const issues: string[] = [];
  for (const name of FUNCTION_NAMES) {
    const key = SPECS[name].schedule;
    if (!key) continue;
    const expression = config.schedules[key];
    try {
      const schedule = parseSchedule(expression);
      schedule.next(now);
      out.push({ name, expression, schedule });
    } catch (err) {
      issues.push(`schedules.${key}: ${(err as Error).message}`);
    }
  }
  if (issues.length) {
    throw new ConfigError(`invalid schedules:\n  ${issues.join('\n  ')}`, issues);
  }
  return out;
}
