import { randomBytes } from 'node:crypto';
import type { RuleId, Silence } from '../../../functions/commons/alerts/types.ts';
import { ALERT_RULES } from '../../../functions/commons/config/alerts.ts';
import { POOLS } from '../../../functions/commons/pollers/store/snapshots.ts';
import {
  defineCommand,
  expectPositionals,
  type ParsedArgs,
  printJson,
  requiredOption,
  stringOption,
} from '../command.ts';
import type { CommandContext } from '../context.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { shortTime, table } from '../format.ts';

const UNIT_MS: Record<string, number> = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_MS = 90 * 86_400_000;

/** `30m`, `2h`, `1d` (up to 90 days) as milliseconds; a UsageError naming the option otherwise. */
export function durationOption(args: ParsedArgs, name: string): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const m = /^(\d+)(m|min|h|d)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0) : 0;
  if (!m || ms <= 0 || ms > MAX_MS) {
    throw new UsageError(
      `--${name} must be a duration like 30m, 2h or 1d (at most 90d), got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

/** A rule or event kind named on the command line, checked against the known ones. */
export function ruleArgument(text: string, what = '--rule'): RuleId {
  if (!(ALERT_RULES as readonly string[]).includes(text)) {
    throw new UsageError(
      `${what} must be one of ${ALERT_RULES.join(', ')}; got ${JSON.stringify(text)}`,
    );
  }
  return text as RuleId;
}

type SilenceArgs =
  | {
      verb: 'add';
      rule?: RuleId;
      subject?: string;
      forMs: number;
      reason: string;
      by?: string;
    }
  | { verb: 'list'; all: boolean }
  | { verb: 'expire'; id: string };

const ADD_OPTIONS = ['rule', 'pool', 'subject', 'for', 'reason', 'by'];

/** Options another verb takes are a mistake here, not something to ignore. */
export function onlyOptions(args: ParsedArgs, allowed: readonly string[]): void {
  const extra = Object.keys(args.values).filter(
    (k) => args.values[k] !== undefined && !['json', 'help', ...allowed].includes(k),
  );
  if (extra.length) {
    throw new UsageError(`${extra.map((k) => `--${k}`).join(', ')} not used here`);
  }
}

function parseAdd(args: ParsedArgs): SilenceArgs {
  expectPositionals(args, ['verb']);
  const rule = stringOption(args, 'rule');
  const pool = stringOption(args, 'pool');
  const subject = stringOption(args, 'subject');
  if (pool !== undefined && subject !== undefined) {
    throw new UsageError('give --pool or --subject, not both');
  }
  if (pool !== undefined && !(POOLS as readonly string[]).includes(pool)) {
    throw new UsageError(`--pool must be one of ${POOLS.join(', ')}, got ${JSON.stringify(pool)}`);
  }
  const forMs = durationOption(args, 'for');
  if (forMs === undefined) throw new UsageError('--for is required (e.g. --for 2h)');
  const reason = requiredOption(args, 'reason').trim();
  if (!reason) throw new UsageError('--reason must say why');
  const by = stringOption(args, 'by');
  return {
    verb: 'add',
    forMs,
    reason,
    ...(rule !== undefined ? { rule: ruleArgument(rule) } : {}),
    ...((pool ?? subject) !== undefined ? { subject: pool ?? subject } : {}),
    ...(by ? { by } : {}),
  };
}

export function silenceJson(s: Silence, now: Date) {
  return {
    id: s.id,
    rule: s.rule ?? null,
    subject: s.subject ?? null,
    startsAt: s.startsAt.toISOString(),
    endsAt: s.endsAt.toISOString(),
    active: s.startsAt <= now && now < s.endsAt,
    reason: s.reason,
    by: s.by ?? null,
    createdAt: s.createdAt.toISOString(),
    expiredAt: s.expiredAt?.toISOString() ?? null,
  };
}

/** `low-residual on primary`, `every poll rule on every subject`. */
export function silenceScope(s: Pick<Silence, 'rule' | 'subject'>): string {
  return `${s.rule ?? 'every poll rule'} on ${s.subject ?? 'every subject'}`;
}

function silenceTable(silences: readonly Silence[], now: Date): string {
  return table(silences, [
    { header: 'ID', value: (s) => s.id },
    { header: 'RULE', value: (s) => s.rule ?? '(poll rules)' },
    { header: 'SUBJECT', value: (s) => s.subject ?? '(all)' },
    { header: 'UNTIL', value: (s) => shortTime(s.endsAt.toISOString()) },
    {
      header: 'STATE',
      value: (s) =>
        s.startsAt <= now && now < s.endsAt ? 'active' : s.expiredAt ? 'expired' : 'ended',
    },
    { header: 'BY', value: (s) => s.by ?? '-' },
    { header: 'REASON', value: (s) => s.reason },
  ]);
}

async function run(args: SilenceArgs, ctx: CommandContext) {
  const now = ctx.clock();
  const store = ctx.stores.silences;
  switch (args.verb) {
    case 'add': {
      const silence: Silence = {
        id: `s-${randomBytes(4).toString('hex')}`,
        startsAt: now,
        endsAt: new Date(now.getTime() + args.forMs),
        reason: args.reason,
        createdAt: now,
        ...(args.rule ? { rule: args.rule } : {}),
        ...(args.subject ? { subject: args.subject } : {}),
        ...(args.by ? { by: args.by } : {}),
      };
      if (!(await store.add(silence))) throw new UsageError('silence id taken; run it again');
      if (ctx.json) printJson(ctx, silenceJson(silence, now));
      else {
        ctx.io.stdout.write(
          `silence ${silence.id}: ${silenceScope(silence)} until ${shortTime(silence.endsAt.toISOString())}\n` +
            'Alerts are still evaluated and recorded; what they would have said is sent when it ends.\n',
        );
      }
      return EXIT.ok;
    }
    case 'list': {
      const all = await store.list();
      const shown = args.all ? all : all.filter((s) => s.startsAt <= now && now < s.endsAt);
      if (ctx.json)
        printJson(
          ctx,
          shown.map((s) => silenceJson(s, now)),
        );
      else ctx.io.stdout.write(silenceTable(shown, now));
      return EXIT.ok;
    }
    case 'expire': {
      const ended = await store.expire(args.id, now);
      if (!ended) throw new NotFoundError(`no silence ${args.id} (silence list --all shows them)`);
      if (ctx.json) printJson(ctx, silenceJson(ended, now));
      else {
        const when = shortTime((ended.expiredAt ?? ended.endsAt).toISOString());
        ctx.io.stdout.write(`silence ${ended.id} (${silenceScope(ended)}) ended ${when}\n`);
      }
      return EXIT.ok;
    }
  }
}

export const silenceCommand = defineCommand<SilenceArgs>({
  name: 'silence',
  summary: 'hold alert notifications for a while: add, list, expire',
  usage:
    'flowpilot silence add [--rule R] [--pool P | --subject S] --for 2h --reason TEXT [--by NAME]\n' +
    '       flowpilot silence list [--all]\n' +
    '       flowpilot silence expire <id>',
  details:
    'A silence keeps notifications back while it lasts; alerts are still evaluated, recorded\n' +
    'and shown (flowpilot alerts, the status page), and what they would have said is sent\n' +
    'when it ends. Without --rule it covers every poll rule (low-residual, forecast,\n' +
    'token-rejected, data-stale); money and reconciliation events are silenced only by\n' +
    'naming them. --pool primary|secondary, or --subject for any other subject (upstream,\n' +
    'an order key). --for takes 30m, 2h, 1d. list shows the active ones (--all: the last 30\n' +
    'days too); expire ends one now (exit 3 when there is no such silence).',
  options: {
    rule: { type: 'string' },
    pool: { type: 'string' },
    subject: { type: 'string' },
    for: { type: 'string' },
    reason: { type: 'string' },
    by: { type: 'string' },
    all: { type: 'boolean' },
  },
  parse: (args) => {
    const verb = args.positionals[0];
    onlyOptions(args, verb === 'add' ? ADD_OPTIONS : verb === 'list' ? ['all'] : []);
    if (verb === 'add') return parseAdd(args);
    if (verb === 'list') {
      expectPositionals(args, ['verb']);
      return { verb, all: args.values.all === true };
    }
    if (verb === 'expire') {
      const [, id] = expectPositionals(args, ['verb', 'id']);
      return { verb, id: id ?? '' };
    }
    throw new UsageError(
      verb === undefined
        ? 'missing <add|list|expire>'
        : `unknown ${JSON.stringify(verb)}: expected add, list or expire`,
    );
  },
  run,
});
