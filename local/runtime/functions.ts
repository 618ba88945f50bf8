import type { Context } from 'aws-lambda';
import type { Config } from '../../functions/commons/config/schema.ts';
import { lambdaContext } from './events.ts';
import { parseSchedule, type Schedule } from './schedule.ts';

/** The functions, named as in AWS, with the timeouts the stack gives them. */
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
    timeoutMs: number;
    schedule?: keyof Config['schedules'];
    load: () => Promise<{ handler: unknown }>;
  }
> = {
  'poll-totals': {
    timeoutMs: 60_000,
    schedule: 'pollTotals',
    load: () => import('../../functions/poll-totals.ts'),
  },
  'poll-usage': {
    timeoutMs: 300_000,
    schedule: 'pollUsage',
    load: () => import('../../functions/poll-usage.ts'),
  },
  reconcile: {
    timeoutMs: 300_000,
    schedule: 'reconcile',
    load: () => import('../../functions/reconcile.ts'),
  },
  'payment-webhook': {
    timeoutMs: 29_000,
    load: () => import('../../functions/payment-webhook.ts'),
  },
};

export function isFunctionName(name: string): name is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(name);
}

/**
 * Runs the real handlers in this process. One run of a function at a time, like the
 * reserved concurrency of 1 in AWS: a second invocation waits for the first to finish.
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
    const run = handler(event, lambdaContext(name, SPECS[name].timeoutMs));
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

export function schedules(
  config: Config,
): { name: FunctionName; expression: string; schedule: Schedule }[] {
  const out: { name: FunctionName; expression: string; schedule: Schedule }[] = [];
  for (const name of FUNCTION_NAMES) {
    const key = SPECS[name].schedule;
    if (!key) continue;
    const expression = config.schedules[key];
    out.push({ name, expression, schedule: parseSchedule(expression) });
  }
  return out;
}
