import { describe, expect, it } from 'vitest';
import { renderGroup, renderMessage } from '../../functions/commons/alerts/messages.ts';
import { poolFigures } from '../../functions/commons/alerts/rules.ts';
import type {
  AlertFacts,
  AlertNotice,
  AlertStatus,
  NoticeKind,
} from '../../functions/commons/alerts/types.ts';
import type { OpsEventKind } from '../../functions/commons/ops-events.ts';
import { gbToMb } from '../../functions/commons/units.ts';

const AT = new Date('2025-03-01T12:00:00Z');
const OPENED_AT = new Date('2025-03-01T08:00:00Z');
// ASCII characters that are one septet in GSM-7's basic table (written out independently).
const GSM7_BASIC_ASCII = /^[A-Za-z0-9 !"#$%&'()*+,\-./:;<=>?@_]*$/;
const SUBJECT_ASCII = /^[!-~][ -~]*$/;

const LONG = 'x'.repeat(40);
const LONG_ORDER = `stripe#pi_${'3PqLongPaymentIntent'.repeat(12)}`;
const LONG_CUSTOMER = `客户 Zoë-Ångström «Ünïcødé» ${'~[{|}]^`\\'.repeat(8)} ${LONG}`;

const figures = (rechargedGb: string, residualGb: string, burnGb?: [string, string]) =>
  poolFigures(
    'secondary',
    {
      rechargedMb: gbToMb(rechargedGb),
      consumedMb: gbToMb(rechargedGb).minus(gbToMb(residualGb)),
      residualMb: gbToMb(residualGb),
    },
    burnGb ? { lastDayMb: gbToMb(burnGb[0]), sevenDayAvgMb: gbToMb(burnGb[1]) } : undefined,
    AT,
  );

const FIGURE_VARIANTS = [
  figures('5120', '412.5', ['158', '120']),
  figures('99999999.99', '12345678.91', ['0.01', '0.02']),
  figures('0', '0'),
  figures('1000', '-3.5', ['2000', '1999']),
  figures('1000', '0.04'),
];

const EVENT_KINDS: OpsEventKind[] = [
  'topup-failed',
  'deduction-unknown',
  'amount-mismatch',
  'order-held',
  'reconciliation-difference',
];

function allFacts(): AlertFacts[] {
  const out: AlertFacts[] = [];
  for (const f of FIGURE_VARIANTS) {
    out.push({
      type: 'pool',
      rule: 'low-residual',
      figures: f,
      levels: [
        { warning: 200, critical: 50, unit: 'GB' },
        { warning: 15, critical: 5, unit: '%' },
      ],
    });
    out.push({
      type: 'pool',
      rule: 'forecast',
      figures: f,
      levels: [{ warning: 7, critical: 2, unit: 'days' }],
    });
  }
  out.push({ type: 'token', message: `upstream rejected the access token ${LONG}`, at: AT });
  out.push({
    type: 'stale',
    consecutiveFailures: 123_456,
    lastSuccessAt: OPENED_AT,
    lastFailure: { reason: 'transport', message: `timeout\n${LONG_CUSTOMER}`, at: AT },
    failedPolls: 6,
    maxAgeMinutes: 45,
  });
  out.push({ type: 'stale', consecutiveFailures: 6, failedPolls: 6, maxAgeMinutes: 45 });
  for (const kind of EVENT_KINDS) {
    out.push({
      type: 'event',
      event: {
        kind,
        severity: 'critical',
        subject: LONG_ORDER,
        summary: `Recharge of 12,345.67 GB for ${LONG_CUSTOMER} failed: 充值失败 “quoted” — dash…`,
        details: { customer: LONG_CUSTOMER, order: LONG_ORDER, upstream: '500 充值失败' },
      },
    });
  }
  // What a reminder of an event kept from before its details were stored has to go on.
  out.push({
    type: 'event',
    event: {
      kind: 'deduction-unknown',
      severity: 'warning',
      subject: LONG_ORDER,
      summary: `Deduction needs a human: ${LONG_ORDER}`,
      details: {},
    },
  });
  return out;
}

const TRANSITIONS: [NoticeKind, AlertStatus, AlertStatus][] = [
  ['opened', 'warning', 'ok'],
  ['opened', 'critical', 'ok'],
  ['escalated', 'critical', 'warning'],
  ['eased', 'warning', 'critical'],
  ['reminder', 'warning', 'warning'],
  ['reminder', 'critical', 'critical'],
  ['resolved', 'ok', 'warning'],
  ['resolved', 'ok', 'critical'],
  ['flapping', 'ok', 'critical'],
  ['settled', 'warning', 'critical'],
];

function notice(facts: AlertFacts, [kind, status, previous]: (typeof TRANSITIONS)[number]) {
  const rule =
    facts.type === 'pool'
      ? facts.rule
      : facts.type === 'token'
        ? 'token-rejected'
        : facts.type === 'stale'
          ? 'data-stale'
          : facts.event.kind;
  const subject =
    facts.type === 'pool'
      ? facts.figures.pool
      : facts.type === 'event'
        ? facts.event.subject
        : 'upstream';
  return {
    kind,
    rule,
    subject,
    status,
    previous,
    openedAt: OPENED_AT,
    at: AT,
    facts,
  } satisfies AlertNotice;
}

describe('Function: renderMessage', () => {
  it('keeps every SMS to one GSM-7 segment and every subject valid, for all message kinds', () => {
    // Prepare
    const notices = allFacts().flatMap((facts) => TRANSITIONS.map((t) => notice(facts, t)));

    // Act
    const messages = notices.map(renderMessage);

    // Assess
    expect(messages).toHaveLength(19 * TRANSITIONS.length);
    for (const m of messages) {
      expect(m.sms.length, m.sms).toBeLessThanOrEqual(160);
      expect(m.sms, m.sms).toMatch(GSM7_BASIC_ASCII);
      expect(m.subject.length, m.subject).toBeLessThan(100);
      expect(m.subject, m.subject).toMatch(SUBJECT_ASCII);
      expect(m.sms.startsWith('FlowPilot ')).toBe(true);
      expect(['warning', 'critical']).toContain(m.attributes.severity);
      expect(m.email).toContain('What to do: ');
    }
  });

  it('keeps grouped messages within the channel limits too, at the highest severity', () => {
    // Prepare: every pair of notices about one pool from one evaluation.
    const pool = allFacts().filter((f) => f.type === 'pool');
    const groups = pool.flatMap((a) =>
      pool
        .filter(
          (b) =>
            b.type === 'pool' &&
            a.type === 'pool' &&
            b.rule !== a.rule &&
            b.figures.pool === a.figures.pool,
        )
        .flatMap((b) =>
          TRANSITIONS.map((t) => [notice(a, t), notice(b, ['opened', 'critical', 'ok'])]),
        ),
    );

    // Act
    const messages = groups.map(renderGroup);

    // Assess
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages) {
      expect(m.sms.length, m.sms).toBeLessThanOrEqual(160);
      expect(m.sms, m.sms).toMatch(GSM7_BASIC_ASCII);
      expect(m.subject.length, m.subject).toBeLessThan(100);
      expect(m.subject, m.subject).toMatch(SUBJECT_ASCII);
      expect(m.attributes.severity).toBe('critical');
      expect(m.attributes.rule.split(',').sort()).toEqual(['forecast', 'low-residual']);
    }
  });

  it('tells people the figures: residual GB and %, days left, burn per day, snapshot time', () => {
    // Prepare
    const facts = allFacts()[0] as AlertFacts;

    // Act
    const m = renderMessage(notice(facts, ['opened', 'critical', 'ok']));

    // Assess
    expect(m.subject).toBe('FlowPilot CRITICAL: secondary pool low: 412.5 GB (8.1%) left');
    expect(m.sms).toBe(
      'FlowPilot CRITICAL: secondary pool 412.5 GB (8.1%) left, 2.6-3.4 days at 158 GB/day. Top up now.',
    );
    expect(m.email).toBe(
      [
        'CRITICAL: secondary pool low: 412.5 GB (8.1%) left',
        '',
        'New alert: critical.',
        'Rule: low-residual, subject: secondary, at 2025-03-01 12:00 UTC.',
        '',
        'Figures for the secondary pool, read 2025-03-01 12:00 UTC:',
        '  Residual:   412.5 GB (8.1% of 5,120 GB recharged)',
        '  Consumed:   4,707.5 GB',
        '  Burn:       158 GB/day over the last day, 120 GB/day on average over 7 days',
        "  Days left:  2.6 days at the last day's burn, 3.4 days at the 7-day average",
        'Levels: warning below 200 GB or 15%; critical below 50 GB or 5%.',
        '',
        "What to do: Top up the secondary pool with Dynamic Traffic before it runs out: customers' proxies stop when it reaches zero.",
        '',
        '-- FlowPilot',
      ].join('\n'),
    );
    expect(m.default).toBe(m.email);
    expect(m.attributes).toEqual({
      severity: 'critical',
      rule: 'low-residual',
      pool: 'secondary',
      kind: 'opened',
    });
  });

  it('sends resolved and eased notices at the level people were told about', () => {
    // Prepare
    const facts = allFacts()[0] as AlertFacts;

    // Act
    const resolved = renderMessage(notice(facts, ['resolved', 'ok', 'critical']));
    const eased = renderMessage(notice(facts, ['eased', 'warning', 'critical']));

    // Assess
    expect(resolved.attributes.severity).toBe('critical');
    expect(resolved.subject).toBe(
      'FlowPilot RESOLVED: secondary pool residual ok: 412.5 GB (8.1%)',
    );
    expect(resolved.email).toContain('Resolved: back to ok after 4 h.');
    expect(eased.attributes.severity).toBe('critical');
    expect(eased.email).toContain(
      'Eased from critical to warning; still open since 2025-03-01 08:00 UTC.',
    );
  });

  it('keeps the facts of an event in the email, in full and unfolded', () => {
    // Prepare
    const facts = allFacts().find((f) => f.type === 'event') as AlertFacts;

    // Act
    const m = renderMessage(notice(facts, ['opened', 'critical', 'ok']));

    // Assess
    expect(m.email).toContain(`  customer: ${LONG_CUSTOMER}`);
    expect(m.email).toContain(`Rule: topup-failed, subject: ${LONG_ORDER},`);
    expect(m.sms).toMatch(
      /^FlowPilot CRITICAL: Top-up failed stripe#pi_3PqLong.{20}\.\.\.: Recharge of/,
    );
    expect(m.attributes.pool).toBe('none');
  });
});
