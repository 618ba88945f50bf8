import {
  AutoTopupSettingsError,
  describeSettings,
  setAutoTopup,
  turnedOffSubject,
  turnOffAutoTopup,
} from '../../../functions/commons/autotopup/settings.ts';
import type { AutoTopupRecord } from '../../../functions/commons/autotopup/types.ts';
import { canonicalCustomerId } from '../../../functions/commons/customer-id.ts';
import {
  defineCommand,
  expectPositionals,
  positiveIntOption,
  printJson,
  requiredOption,
  stringOption,
} from '../command.ts';
import type { CommandContext } from '../context.ts';
import { CliError, EXIT, NotFoundError, UsageError } from '../errors.ts';
import { fields, shortTime, table } from '../format.ts';

type Action = 'set' | 'off' | 'show' | 'history';

type Args =
  | {
      action: 'set';
      customerId: string;
      packageId: string;
      quantity: number;
      belowGb: string;
      orDaysLeft: number | undefined;
      maxPerMonth: number | undefined;
      paymentMethod: string | undefined;
      stripeCustomer: string | undefined;
    }
  | { action: 'off' | 'show'; customerId: string }
  | { action: 'history'; customerId: string; limit: number };

const ACTIONS: readonly Action[] = ['set', 'off', 'show', 'history'];

function wholeNumber(text: string | undefined, name: string, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** Who changed it, for the history: the operator's login, never more. */
const who = (ctx: CommandContext): `cli:${string}` =>
  `cli:${ctx.io.env.USER ?? ctx.io.env.USERNAME ?? 'operator'}`;

function showRecord(ctx: CommandContext, rec: AutoTopupRecord): string {
  const ep = rec.episode;
  return fields([
    ['customer', rec.customerId],
    ['auto top-up', rec.enabled ? 'on' : 'off'],
    ['rule', describeSettings(rec, ctx.config.autoTopup)],
    [
      'card',
      rec.paymentMethod
        ? `${rec.paymentMethod} (${rec.stripeCustomer ?? 'no Stripe customer'})`
        : 'none saved',
    ],
    [
      'episode',
      ep
        ? `#${ep.n} ${ep.state} attempt ${ep.attempt}${ep.paymentIntentId ? ` ${ep.paymentIntentId}` : ''}${ep.nextTryAt ? ` next try ${shortTime(ep.nextTryAt)}` : ''}`
        : 'none open',
    ],
    ['not charging', rec.blocked],
    ['this month', rec.month ? `${rec.chargesInMonth} in ${rec.month}` : '0'],
    ['last episode', rec.lastEpisodeAt && shortTime(rec.lastEpisodeAt)],
    ['changed', `${shortTime(rec.updatedAt)} by ${rec.updatedBy}`],
  ]);
}

export const autoTopupCommand = defineCommand<Args>({
  name: 'autotopup',
  summary: "charge a customer's saved card automatically before the traffic runs out",
  usage:
    'flowpilot autotopup set <customer> --package <id> [--quantity N] --below-gb <GB> ' +
    '[--or-days-left D] [--max-per-month N] [--payment-method pm_… --stripe-customer cus_…]\n' +
    '       flowpilot autotopup off|show <customer>\n' +
    '       flowpilot autotopup history <customer> [--limit N]',
  details: [
    'set      turn auto top-up on, or replace its rule (the saved card is kept): when the',
    '         balance falls below --below-gb (or --or-days-left), charge the saved card once',
    '         for --package × --quantity.',
    '         The card comes from --payment-method/--stripe-customer, or from a paid Stripe',
    '         Checkout with setup_future_usage=off_session and metadata autoTopup=<package>:<belowGb>',
    '         that autoTopup.checkoutOptIn accepts (default: one FlowPilot created for the customer).',
    '         Customers paying by epay or Standard Webhooks cannot be charged off-session.',
    'off      turn it off (a payment already taken is still credited)',
    'show     the settings, the open episode and why it is not charging, if so',
    'history  every change and every step, newest first (default 50 lines)',
    '',
    'exit codes: 0 ok, 1 failed, 2 bad arguments or settings, 3 no settings for the customer',
  ].join('\n'),
  options: {
    package: { type: 'string' },
    quantity: { type: 'string' },
    'below-gb': { type: 'string' },
    'or-days-left': { type: 'string' },
    'max-per-month': { type: 'string' },
    'payment-method': { type: 'string' },
    'stripe-customer': { type: 'string' },
    limit: { type: 'string' },
  },
  parse(args) {
    const [action, raw] = expectPositionals(args, ['action', 'customer']);
    if (!ACTIONS.includes(action as Action)) {
      throw new UsageError(
        `unknown action ${JSON.stringify(action)}; one of ${ACTIONS.join(', ')}`,
      );
    }
    // One spelling for every read, write and alert below: 0088 is customer 88.
    const customerId = canonicalCustomerId(raw);
    if (!customerId) {
      throw new UsageError(`<customer> must be a customer id (digits), got ${JSON.stringify(raw)}`);
    }
    const setOnly = [
      'package',
      'quantity',
      'below-gb',
      'or-days-left',
      'max-per-month',
      'payment-method',
      'stripe-customer',
    ];
    if (action !== 'set') {
      const stray = setOnly.find((o) => args.values[o] !== undefined);
      if (stray) throw new UsageError(`--${stray} goes with set only`);
    }
    if (action !== 'history' && args.values.limit !== undefined) {
      throw new UsageError('--limit goes with history only');
    }
    if (action === 'set') {
      return {
        action,
        customerId,
        packageId: requiredOption(args, 'package'),
        quantity: wholeNumber(stringOption(args, 'quantity'), 'quantity', 1, 1_000_000) ?? 1,
        belowGb: requiredOption(args, 'below-gb'),
        orDaysLeft: wholeNumber(stringOption(args, 'or-days-left'), 'or-days-left', 0, 365),
        maxPerMonth: wholeNumber(stringOption(args, 'max-per-month'), 'max-per-month', 1, 100),
        paymentMethod: stringOption(args, 'payment-method'),
        stripeCustomer: stringOption(args, 'stripe-customer'),
      };
    }
    if (action === 'history') {
      return { action, customerId, limit: positiveIntOption(args, 'limit', 50, 1000) };
    }
    return { action: action as 'off' | 'show', customerId };
  },
  async run(args, ctx) {
    const store = ctx.stores.autoTopup;
    const now = ctx.clock();
    try {
      if (args.action === 'set') {
        const before = await store.get(args.customerId);
        const rec = await setAutoTopup(
          store,
          {
            customerId: args.customerId,
            packageId: args.packageId,
            quantity: args.quantity,
            belowGb: args.belowGb,
            ...(args.orDaysLeft === undefined ? {} : { orDaysLeft: args.orDaysLeft }),
            ...(args.maxPerMonth === undefined ? {} : { maxPerMonth: args.maxPerMonth }),
            ...(args.paymentMethod === undefined ? {} : { paymentMethod: args.paymentMethod }),
            ...(args.stripeCustomer === undefined ? {} : { stripeCustomer: args.stripeCustomer }),
            by: who(ctx),
            now,
          },
          ctx.config,
        );
        // Turned back on after declines: the agent's "turned off" alert is over.
        if (before && !before.enabled) {
          await ctx.sink.resolve?.(
            'topup-failed',
            turnedOffSubject(rec.customerId, before.episodeSeq),
            'Auto top-up turned on again.',
          );
        }
        if (ctx.json) printJson(ctx, rec);
        else
          ctx.io.stdout.write(
            `auto top-up on for customer ${rec.customerId}: ${describeSettings(rec, ctx.config.autoTopup)}\n`,
          );
        return EXIT.ok;
      }
      if (args.action === 'off') {
        const rec = await turnOffAutoTopup(store, {
          customerId: args.customerId,
          by: who(ctx),
          now,
        });
        if (ctx.json) printJson(ctx, rec);
        else ctx.io.stdout.write(`auto top-up off for customer ${rec.customerId}\n`);
        return EXIT.ok;
      }
    } catch (err) {
      if (err instanceof AutoTopupSettingsError) {
        const missing = /has no auto top-up settings/.test(err.message);
        throw new CliError(err.message, {
          exitCode: missing ? EXIT.notFound : EXIT.usage,
          cause: err,
        });
      }
      throw err;
    }
    if (args.action === 'show') {
      const rec = await store.get(args.customerId);
      if (!rec) throw new NotFoundError(`customer ${args.customerId} has no auto top-up settings`);
      if (ctx.json) printJson(ctx, rec);
      else ctx.io.stdout.write(showRecord(ctx, rec));
      return EXIT.ok;
    }
    const lines = await store.history(args.customerId, args.action === 'history' ? args.limit : 50);
    if (ctx.json) {
      printJson(ctx, lines);
      return EXIT.ok;
    }
    if (lines.length === 0)
      throw new NotFoundError(`customer ${args.customerId} has no auto top-up history`);
    ctx.io.stdout.write(
      table(lines, [
        { header: 'WHEN', value: (l) => shortTime(l.at) },
        { header: 'BY', value: (l) => l.by },
        { header: 'EPISODE', value: (l) => (l.episode === undefined ? '' : `#${l.episode}`) },
        { header: 'EVENT', value: (l) => l.event },
        { header: 'DETAIL', value: (l) => l.detail },
      ]),
    );
    return EXIT.ok;
  },
});
