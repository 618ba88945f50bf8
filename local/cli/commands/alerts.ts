import { ackActive } from '../../../functions/commons/alerts/lifecycle.ts';
import { formatDuration } from '../../../functions/commons/alerts/messages.ts';
import { Quieting } from '../../../functions/commons/alerts/quiet.ts';
import type { AlertAck, AlertState } from '../../../functions/commons/alerts/types.ts';
import { defineCommand, expectPositionals, printJson, stringOption } from '../command.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { shortTime, table } from '../format.ts';
import { durationOption, onlyOptions, ruleArgument } from './silence.ts';

/** An alert's id: `<rule>/<subject>` (the subject may contain `/`). */
export const alertId = (a: Pick<AlertState, 'rule' | 'subject'>) => `${a.rule}/${a.subject}`;

function parseAlertId(text: string) {
  const cut = text.indexOf('/');
  if (cut <= 0 || cut === text.length - 1) {
    throw new UsageError(
      `an alert id is <rule>/<subject>, e.g. low-residual/primary; got ${JSON.stringify(text)}`,
    );
  }
  return { rule: ruleArgument(text.slice(0, cut), 'the rule'), subject: text.slice(cut + 1) };
}

type AlertsArgs =
  | { verb: 'list' }
  | { verb: 'ack'; rule: AlertState['rule']; subject: string; forMs?: number; by?: string };

interface Row {
  alert: AlertState;
  silence?: string;
  ack?: string;
}

function rowsOf(open: readonly AlertState[], quieting: Quieting, now: Date): Row[] {
  return open.map((alert) => {
    const silence = quieting.silenceFor(alert.rule, alert.subject);
    const window = quieting.windowFor(alert.rule, alert.subject);
    const row: Row = { alert };
    if (silence) row.silence = `${silence.id} until ${shortTime(silence.endsAt.toISOString())}`;
    else if (window) row.silence = `window ${window.name}`;
    const ack = alert.ack;
    if (ack && ackActive(ack, now)) {
      row.ack = `${ack.by ?? 'yes'}${ack.until ? ` until ${shortTime(ack.until.toISOString())}` : ''}`;
    }
    return row;
  });
}

function alertJson(row: Row, now: Date) {
  const a = row.alert;
  return {
    id: alertId(a),
    rule: a.rule,
    subject: a.subject,
    status: a.status,
    flapping: a.flapping !== undefined,
    openedAt: a.openedAt?.toISOString() ?? null,
    ageMinutes: a.openedAt ? Math.floor((now.getTime() - a.openedAt.getTime()) / 60_000) : null,
    lastNotifiedAt: a.lastNotifiedAt?.toISOString() ?? null,
    ack: a.ack && ackActive(a.ack, now) ? ackJson(a.ack) : null,
    silence: row.silence ?? null,
    heldNotice: a.heldNotice ?? null,
    summary: a.summary ?? null,
  };
}

const ackJson = (ack: AlertAck) => ({
  at: ack.at.toISOString(),
  by: ack.by ?? null,
  until: ack.until?.toISOString() ?? null,
});

function alertsTable(rows: readonly Row[], now: Date): string {
  return table(rows, [
    { header: 'ID', value: (r) => alertId(r.alert) },
    {
      header: 'STATUS',
      value: (r) => (r.alert.flapping ? `${r.alert.status} (flapping)` : r.alert.status),
    },
    {
      header: 'AGE',
      value: (r) =>
        r.alert.openedAt ? formatDuration(now.getTime() - r.alert.openedAt.getTime()) : '-',
      align: 'right',
    },
    { header: 'LAST NOTIFIED', value: (r) => shortTime(r.alert.lastNotifiedAt?.toISOString()) },
    { header: 'ACK', value: (r) => r.ack ?? '-' },
    { header: 'SILENCE', value: (r) => r.silence ?? '-' },
    { header: 'SUMMARY', value: (r) => r.alert.summary ?? '' },
  ]);
}

async function run(args: AlertsArgs, ctx: CommandContext) {
  const now = ctx.clock();
  if (args.verb === 'ack') {
    const ack: AlertAck = { at: now };
    if (args.by) ack.by = args.by;
    if (args.forMs !== undefined) ack.until = new Date(now.getTime() + args.forMs);
    const state = await ctx.stores.alerts.acknowledge(args.rule, args.subject, ack);
    if (!state) {
      throw new NotFoundError(
        `no open alert ${args.rule}/${args.subject} (flowpilot alerts lists them)`,
      );
    }
    if (ctx.json) printJson(ctx, { id: alertId(state), status: state.status, ack: ackJson(ack) });
    else {
      const until = ack.until ? `until ${shortTime(ack.until.toISOString())} or ` : 'until ';
      ctx.io.stdout.write(
        `acknowledged ${alertId(state)} (${state.status}): no reminders ${until}its status changes\n`,
      );
    }
    return EXIT.ok;
  }
  const [open, silences] = await Promise.all([
    ctx.stores.alerts.listOpenAlerts(),
    ctx.stores.silences.active(now),
  ]);
  const rows = rowsOf(open, new Quieting(silences, ctx.config.alerts.maintenance, now), now);
  if (ctx.json)
    printJson(
      ctx,
      rows.map((r) => alertJson(r, now)),
    );
  else ctx.io.stdout.write(alertsTable(rows, now));
  return EXIT.ok;
}

export const alertsCommand = defineCommand<AlertsArgs>({
  name: 'alerts',
  summary: 'open alerts with age, last notified, ack and silence; ack one',
  usage:
    'flowpilot alerts [--json]\n       flowpilot alerts ack <rule>/<subject> [--for 8h] [--by NAME]',
  details:
    'An alert id is <rule>/<subject> as listed, e.g. low-residual/primary or\n' +
    'deduction-unknown/stripe#pi_1. ack stops its reminders until its status changes (or\n' +
    'for the time given: 30m, 8h, 1d); changes (escalated, resolved, ...) are still sent.\n' +
    'Exit 3 when the alert is not open.',
  options: { for: { type: 'string' }, by: { type: 'string' } },
  parse: (args) => {
    const verb = args.positionals[0];
    if (verb === undefined) {
      onlyOptions(args, []);
      return { verb: 'list' };
    }
    if (verb !== 'ack') {
      throw new UsageError(`unknown ${JSON.stringify(verb)}: expected ack, or nothing to list`);
    }
    const [, id] = expectPositionals(args, ['verb', 'id']);
    const forMs = durationOption(args, 'for');
    const by = stringOption(args, 'by');
    return {
      verb: 'ack',
      ...parseAlertId(id ?? ''),
      ...(forMs !== undefined ? { forMs } : {}),
      ...(by ? { by } : {}),
    };
  },
  run,
});
