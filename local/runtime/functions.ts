import type { Context } from 'aws-lambda';
import type { Config } from '../../functions/commons/config/schema.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../../infra/limits.ts';
import { lambdaContext } from './events.ts';
import { parseSchedule } from './schedule.ts';
import type { ScheduledJob } from './scheduler.ts';

/** The functions, named as in AWS; each gets the timeout the stack gives it. */
export const FUNCTION_NAMES = [
  'poll-totals',
  'poll-usage',
  'reconcile',
  'payment-webhook',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const SPECS: Record<
  FunctionName,
  {
    schedule?: keyof Config['schedules'];
    load: () => Promise<{ handler: unknown }>;
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
  reconcile: {
    schedule: 'reconcile',
    load: () => import('../../functions/reconcile.ts'),
  },
  'payment-webhook': {
    load: () => import('../../functions/payment-webhook.ts'),
  },
};

export function isFunctionName(name: string): name is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(name);
}

/**
 * Runs the real handlers in this process. One run of a function at a time, like the
 * reserved concurrency of 1 of the scheduled ones in AWS: a second invocation waits for the
 * first to finish. payment-webhook too, unlike AWS: the embedded engine emulates
 * transactions one at a time, and a local runtime sees a handful of payments.
 */
export class Invoker {
  private readonly handlers = new Map<FunctionName, Handler>();
  private readonly running = new Map<FunctionName, Promise<unknown>>();

  async load(): Promise<void> {
    for (const name of FUNCTION_NAMES) {
      const mod = await SPECS[name].load();
      if (typeof mod.handler !== 'function') throw new Error(`${name} exports no handler`);
      this.handlers.set(name, mod.handler as Handler);
    }
  }

  isRunning(name: FunctionName): boolean {
    return this.running.has(name);
  }

  async invoke(name: FunctionName, event: unknown): Promise<unknown> {
    while (this.running.has(name)) await this.running.get(name)?.catch(() => undefined);
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`${name} is not loaded`);
    const run = handler(event, lambdaContext(name, FUNCTION_TIMEOUT_SECONDS[name] * 1000));
    this.running.set(name, run);
    try {
      return await run;
    } finally {
      this.running.delete(name);
    }
  }

  /** Resolves once nothing is running (for a clean shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
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
