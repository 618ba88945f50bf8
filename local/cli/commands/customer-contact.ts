import {
  type ContactEdit,
  type CustomerContact,
  canonicalCustomerId,
  normaliseLocale,
} from '../../../functions/commons/customer-notices/store/customer-contacts.ts';
import { ValidationError } from '../../../functions/commons/errors.ts';
import {
  defineCommand,
  expectPositionals,
  type ParsedArgs,
  printJson,
  stringOption,
} from '../command.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { fields } from '../format.ts';

type ContactArgs = { customerId: string; edit: ContactEdit | undefined };

/** `--low-gb 2`, or `default` to drop the override; `0` turns the trigger off. */
function threshold(raw: string | undefined, name: string, max: number): number | null | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'default') return null;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) {
    throw new UsageError(
      `--${name} must be a number from 0 to ${max} or "default", got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

function readEdit(args: ParsedArgs): ContactEdit | undefined {
  const { values } = args;
  const edit: ContactEdit = {};
  const email = stringOption(args, 'email');
  const phone = stringOption(args, 'phone');
  const name = stringOption(args, 'name');
  const locale = stringOption(args, 'locale');
  const zone = stringOption(args, 'time-zone');
  if (email !== undefined) edit.email = email;
  if (phone !== undefined) edit.phone = phone;
  if (name !== undefined) edit.name = name;
  if (zone !== undefined) edit.timeZone = zone;
  if (locale !== undefined) {
    try {
      edit.locale = normaliseLocale(locale);
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(`--locale: ${err.message}`);
      throw err;
    }
  }
  if (values.notices === true && values['no-notices'] === true) {
    throw new UsageError('--notices and --no-notices contradict each other');
  }
  if (values.notices === true) edit.notices = true;
  if (values['no-notices'] === true) edit.notices = false;
  const gb = threshold(stringOption(args, 'low-gb'), 'low-gb', 1_000_000);
  const pct = threshold(stringOption(args, 'low-percent'), 'low-percent', 100);
  const days = threshold(stringOption(args, 'low-days'), 'low-days', 365);
  if (gb !== undefined || pct !== undefined || days !== undefined) {
    edit.lowThresholds = {
      ...(gb !== undefined ? { gb } : {}),
      ...(pct !== undefined ? { percentOfLastTopUp: pct } : {}),
      ...(days !== undefined ? { daysLeft: days } : {}),
    };
  }
  return Object.keys(edit).length > 0 ? edit : undefined;
}

function show(ctx: CommandContext, c: CustomerContact): string {
  const n = ctx.config.customers.notices;
  const from = (...sources: [string | undefined, string][]) =>
    sources
      .filter(([v]) => v !== undefined)
      .map(([v, how]) => `${v} (${how})`)
      .join('; ') || '-';
  const captured = (bound: string | undefined) =>
    bound ? 'from a payment, not used' : 'from a payment, unconfirmed: receipts only';
  const t = c.lowThresholds;
  const low = (v: number | undefined, d: number, unit: string) =>
    v === undefined ? `${d}${unit} (default)` : `${v}${unit}`;
  return fields([
    ['customer', c.customerId],
    ['notices', c.notices ? 'on' : 'off (opted out)'],
    [
      'email',
      from(
        [c.email, 'set by operator'],
        [c.confirmedEmail, 'confirmed by the customer'],
        [c.paymentEmail, captured(c.email ?? c.confirmedEmail)],
      ),
    ],
    ['phone', from([c.phone, 'set by operator'], [c.paymentPhone, captured(c.phone)])],
    ['name', from([c.name, 'set by operator'])],
    ['locale', c.locale ?? `${n.defaultLocale} (default)`],
    ['time zone', c.timeZone ?? `${n.defaultTimeZone} (default)`],
    ['low below', low(t.gb, n.runningLow.gb, ' GB')],
    ['low below % of top-up', low(t.percentOfLastTopUp, n.runningLow.percentOfLastTopUp, ' %')],
    ['low under days left', low(t.daysLeft, n.runningLow.daysLeft, ' days')],
    ['updated', c.updatedAt],
  ]);
}

export const customerContactCommand = defineCommand<ContactArgs>({
  name: 'customer contact',
  summary: "show or set a customer's contact for notices (email, phone, locale, opt-out)",
  usage:
    'flowpilot customer contact <customerId> [--email E] [--phone +E164] [--name N] [--locale en|zh-CN] ' +
    '[--time-zone Zone] [--notices | --no-notices] [--low-gb N] [--low-percent N] [--low-days N] [--json]',
  details:
    "Without options: shows the contact. The operator's email and phone, and an email the\n" +
    'customer confirmed, get every notice; those captured from payments (what a payer typed)\n' +
    'get receipts only, and only while nothing else is set. A payment never overwrites them or\n' +
    "the opt-out, and a payer's name is never kept.\n" +
    '--no-notices: the customer is told nothing (episodes are still tracked); --notices: again.\n' +
    '--time-zone: IANA zone for the SMS quiet hours (a locale does not imply a zone).\n' +
    "--low-gb / --low-percent / --low-days: this customer's running-low triggers; 0 turns one\n" +
    'off, "default" goes back to customers.notices.runningLow.\n' +
    'exit codes: 0 ok, 2 bad arguments, 3 no contact stored (when only showing)',
  options: {
    email: { type: 'string' },
    phone: { type: 'string' },
    name: { type: 'string' },
    locale: { type: 'string' },
    'time-zone': { type: 'string' },
    notices: { type: 'boolean' },
    'no-notices': { type: 'boolean' },
    'low-gb': { type: 'string' },
    'low-percent': { type: 'string' },
    'low-days': { type: 'string' },
  },
  parse(args) {
    const [raw] = expectPositionals(args, ['customerId']);
    let customerId: string;
    try {
      customerId = canonicalCustomerId(raw ?? '');
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(err.message);
      throw err;
    }
    return { customerId, edit: readEdit(args) };
  },
  async run(args, ctx) {
    const store = ctx.stores.contacts;
    let contact: CustomerContact | undefined;
    if (args.edit) {
      try {
        contact = await store.edit(args.customerId, args.edit, ctx.clock());
      } catch (err) {
        if (err instanceof ValidationError) throw new UsageError(err.message);
        throw err;
      }
    } else {
      contact = await store.get(args.customerId);
      if (!contact) throw new NotFoundError(`no contact stored for customer ${args.customerId}`);
    }
    if (ctx.json) printJson(ctx, { contact });
    else ctx.io.stdout.write(show(ctx, contact));
    return EXIT.ok;
  },
});
