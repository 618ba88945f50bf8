import {
  canonicalCustomerId,
  maskContact,
} from '../../../functions/commons/customer-notices/store/customer-contacts.ts';
import type { OutboxEntry } from '../../../functions/commons/customer-notices/store/notice-outbox.ts';
import { ValidationError } from '../../../functions/commons/errors.ts';
import { addDays, dayInZone } from '../../../functions/commons/units.ts';
import {
  defineCommand,
  expectPositionals,
  positiveIntOption,
  printJson,
  stringOption,
} from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { shortTime, table } from '../format.ts';

type OutboxArgs = { customerId: string | undefined; days: number; limit: number; full: boolean };

const masked = (e: OutboxEntry) => ({ ...e, ...(e.to ? { to: maskContact(e.to) } : {}) });

function note(e: OutboxEntry): string {
  if (e.status === 'deferred' || e.status === 'retry' || e.status === 'pending') {
    return `due ${shortTime(e.notBefore)}${e.reason ? ` (${e.reason})` : ''}`;
  }
  return e.reason ?? '';
}

export const outboxCommand = defineCommand<OutboxArgs>({
  name: 'outbox',
  summary: 'customer notices: what was sent, printed, deferred, skipped, capped or failed',
  usage: 'flowpilot outbox [--customer ID] [--days N] [--limit N] [--full] [--json]',
  details:
    'Open entries (deferred by quiet hours, waiting for a retry) first, then the last --days\n' +
    'days (default 7) newest first, at most --limit (default 50). Recipients are masked.\n' +
    "--customer: every entry of one customer. --full: each notice's whole text.",
  options: {
    customer: { type: 'string' },
    days: { type: 'string' },
    limit: { type: 'string' },
    full: { type: 'boolean' },
  },
  parse(args) {
    expectPositionals(args, []);
    const raw = stringOption(args, 'customer');
    let customerId: string | undefined;
    try {
      customerId = raw === undefined ? undefined : canonicalCustomerId(raw);
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(`--customer: ${err.message}`);
      throw err;
    }
    return {
      customerId,
      days: positiveIntOption(args, 'days', 7, 366),
      limit: positiveIntOption(args, 'limit', 50, 1000),
      full: args.values.full === true,
    };
  },
  async run(args, ctx) {
    const outbox = ctx.stores.outbox;
    let entries: OutboxEntry[];
    if (args.customerId) {
      entries = (await outbox.forCustomer(args.customerId)).slice(0, args.limit);
    } else {
      const today = dayInZone(ctx.clock(), 'UTC');
      const days = Array.from({ length: args.days }, (_, i) => addDays(today, -i));
      const open = await outbox.open();
      entries = [...open, ...(await outbox.recent(days, args.limit))].slice(0, args.limit);
    }
    const shown = entries.map(masked);
    if (ctx.json) {
      printJson(ctx, { entries: shown });
      return EXIT.ok;
    }
    ctx.io.stdout.write(
      table(shown, [
        { header: 'CREATED', value: (e) => shortTime(e.createdAt) },
        { header: 'CUSTOMER', value: (e) => e.customerId },
        { header: 'NOTICE', value: (e) => e.noticeId },
        { header: 'CHANNEL', value: (e) => e.channel },
        { header: 'LOCALE', value: (e) => e.locale },
        { header: 'STATUS', value: (e) => e.status },
        { header: 'TO', value: (e) => e.to ?? '-' },
        { header: 'NOTE', value: note },
      ]),
    );
    if (args.full) {
      for (const e of shown) {
        ctx.io.stdout.write(
          `\n--- ${e.customerId} ${e.noticeId} ${e.channel}\n${e.subject ? `Subject: ${e.subject}\n\n` : ''}${e.text}\n`,
        );
      }
    }
    return EXIT.ok;
  },
});
