import { randomUUID } from 'node:crypto';
import type { CustomerNoticesConfig } from '../config/customer-notices.ts';
import type { NoticeLocale } from '../config/notice-locales.ts';
import { LISTENER_NAMES } from '../customers/listeners.ts';
import type { BalanceChange, BalanceListener } from '../customers/types.ts';
import { logger } from '../logger.ts';
import type { NoticeLinks } from '../portal/links.ts';
import { runLimited } from '../store/batch.ts';
import { dayInZone } from '../units.ts';
import { type NoticeChannel, NoticeDeliveryError } from './channels.ts';
import { decideNotices, type NoticeIntent, thresholdsFor } from './episodes.ts';
import { type NoticeFacts, paymentLinkFor, renderNotice } from './messages.ts';
import { recordNotice } from './metrics.ts';
import { nextSmsTime, type SmsWindow } from './quiet-hours.ts';
import {
  type CustomerContact,
  type CustomerContactStore,
  noticeAddresses,
  unconfirmedEmail,
} from './store/customer-contacts.ts';
import {
  type NoticeState,
  NoticeStateConflictError,
  type NoticeStateStore,
} from './store/customer-notice-state.ts';
import type {
  NoticeKind,
  NoticeOutboxStore,
  OutboxEntry,
  OutboxReason,
  OutboxStatus,
} from './store/notice-outbox.ts';

/** An attempt that dies mid-send is taken up again this long after it started. */
export const SEND_LEASE_MS = 10 * 60_000;
/** A failed send is tried again after this long, up to MAX_ATTEMPTS in all. */
export const RETRY_AFTER_MS = 15 * 60_000;
export const MAX_ATTEMPTS = 3;
/** Customers worked on at once (each is a few small requests). */
export const CUSTOMER_CONCURRENCY = 8;

export interface CustomerNoticesDeps {
  config: CustomerNoticesConfig;
  paymentLinkUrl?: string | undefined;
  contacts: CustomerContactStore;
  state: NoticeStateStore;
  outbox: NoticeOutboxStore;
  /** Absent: that channel is off (no sender configured, or SMS disabled). */
  email?: NoticeChannel | undefined;
  sms?: NoticeChannel | undefined;
  /**
   * The link a receipt to a captured, unconfirmed email carries to confirm it (confirm.ts);
   * undefined when there is none to give (no `confirmContactUrl`, no PORTAL_SECRET).
   */
  confirmLink?: (customerId: string, email: string, now: Date) => Promise<string | undefined>;
  /**
   * The customer page's signed link and one-click unsubscribe for `email` (portal/links.ts);
   * absent when there is no page to link to (no PORTAL_SECRET or no base URL).
   */
  links?: (customerId: string, email: string | undefined, now: Date) => Promise<NoticeLinks>;
  clock?: () => Date;
  /**
   * Of these customers, those whose saved card auto top-up charges: they get no running-low
   * notice (the charge comes instead, and a payment link would invite a second payment);
   * used-up notices and receipts still go. Absent: nobody.
   */
  chargedAutomatically?: (customerIds: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** A notice outside the balance episodes; `link` overrides the configured payment link. */
export interface OneOffNotice {
  kind: NoticeKind;
  customerId: string;
  /** Stable per notice: the same id is delivered once. */
  noticeId: string;
  link?: string;
}

export interface NoticeRunSummary {
  customers: number;
  /** Customers whose notice state was saved. */
  saved: number;
  /** Lost a race to another run (which owns the news). */
  conflicts: number;
  /** Outbox entries by resulting status, across new and due entries. */
  entries: Partial<Record<SendResult, number>>;
}

/**
 * What became of one notice on one channel: the entry's status after the attempt, `taken`
 * (another run has it) or `channel off` (nothing recorded: no sender, or notices disabled).
 */
export type SendResult = OutboxStatus | 'taken' | 'channel off';

/** Notices a customer may turn off per channel; receipts and card notices always go. */
const REMINDERS: readonly NoticeKind[] = ['running-low', 'used-up'];

/** Whether customer SMS may go to this number (`customers.notices.smsCountries`). */
export function smsAllowed(phone: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => phone.startsWith(p));
}

/** What every entry of one notice shares, whatever its channel. */
type EntryBase = Pick<
  OutboxEntry,
  'customerId' | 'noticeId' | 'kind' | 'locale' | 'createdAt' | 'attempts' | 'episode'
>;

type RenderedNotice = ReturnType<typeof renderNotice>;

/**
 * The texts of one notice: in full for a bound address; for an address captured from a
 * payment, without the account and balance, and only its email with the confirmation link.
 */
function noticeTexts(
  facts: NoticeFacts,
  contact: CustomerContact | undefined,
  addresses: ReturnType<typeof noticeAddresses>,
  locale: NoticeLocale,
  confirmLink: string | undefined,
  links: NoticeLinks | undefined,
): { full: RenderedNotice; email: RenderedNotice; sms: string } {
  const name = contact?.name;
  const full = renderNotice(
    { ...facts, ...(name ? { name } : {}), ...(links ? { pageLink: links.page } : {}) },
    locale,
  );
  const { account: _account, balanceMb: _balance, daysLeft: _days, ...paid } = facts;
  const payer = (link: string | undefined) =>
    renderNotice({ ...paid, ...(link ? { confirmLink: link } : {}) }, locale);
  const email = addresses.email?.to;
  const emailText =
    addresses.email && !addresses.email.bound
      ? payer(contact && email === unconfirmedEmail(contact) ? confirmLink : undefined)
      : full;
  const sms = addresses.phone && !addresses.phone.bound ? payer(undefined).sms : full.sms;
  return { full, email: emailText, sms };
}

/** The one entry of a notice that goes nowhere, kept for the operator. */
function skippedEntry(base: EntryBase, reason: OutboxReason, full: RenderedNotice): OutboxEntry {
  return {
    ...base,
    channel: 'none',
    status: 'skipped',
    reason,
    subject: full.subject,
    text: full.email,
  };
}

function emailEntry(
  base: EntryBase,
  to: string,
  text: RenderedNotice,
  links: NoticeLinks | undefined,
  lease: string,
): OutboxEntry {
  return {
    ...base,
    channel: 'email',
    status: 'pending',
    to,
    subject: text.subject,
    text: text.email,
    ...(links?.unsubscribe ? { headers: links.unsubscribe } : {}),
    notBefore: lease,
  };
}

/**
 * Customer notices as a BalanceListener: for each customer a balance computation touched,
 * decide the episode (episodes.ts), record the state and the notices in one transaction,
 * then hand each notice to its channel. SMS waits for the customer's daytime; failures are
 * tried again later; what was due but not sent (quiet hours, retries, a crash) goes out at
 * the start of the next run.
 */
export class CustomerNotices implements BalanceListener {
  readonly name = LISTENER_NAMES.notices;
  readonly #d: CustomerNoticesDeps;
  readonly #clock: () => Date;

  constructor(deps: CustomerNoticesDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  async onBalances(changes: readonly BalanceChange[]): Promise<void> {
    const summary = await this.run(changes);
    logger.info('customer notices', { ...summary });
  }

  /** onBalances with its figures, for callers that report them. */
  async run(changes: readonly BalanceChange[]): Promise<NoticeRunSummary> {
    const summary: NoticeRunSummary = { customers: 0, saved: 0, conflicts: 0, entries: {} };
    const count = (status: SendResult) => {
      summary.entries[status] = (summary.entries[status] ?? 0) + 1;
    };
    for (const s of await this.deliverDue()) count(s);
    if (changes.length === 0) return summary;

    const ids = [...new Set(changes.map((c) => c.after.customerId))];
    summary.customers = ids.length;
    const [contacts, states, automatic] = await Promise.all([
      this.#d.contacts.getMany(ids),
      this.#d.state.getMany(ids),
      this.#d.chargedAutomatically?.(ids) ?? new Set<string>(),
    ]);
    // One customer's changes in order; customers side by side.
    const byCustomer = new Map<string, BalanceChange[]>();
    for (const c of changes) {
      const list = byCustomer.get(c.after.customerId) ?? [];
      list.push(c);
      byCustomer.set(c.after.customerId, list);
    }
    await runLimited([...byCustomer.values()], CUSTOMER_CONCURRENCY, async (list) => {
      for (const change of list) {
        const id = change.after.customerId;
        const contact = contacts.get(id);
        const t = thresholdsFor(this.#d.config.runningLow, contact?.lowThresholds);
        const now = this.#clock();
        const decision = decideNotices(
          states.get(id),
          change,
          t,
          this.#d.config.hysteresisPercent,
          now,
        );
        if (!decision.changed) continue;
        // The episode is still tracked for a customer charged automatically: if auto top-up is
        // turned off meanwhile, no running-low backlog follows.
        const notices = automatic.has(id)
          ? decision.notices.filter((n) => n.kind !== 'running-low')
          : decision.notices;
        const confirm = notices.some((n) => n.kind === 'topped-up')
          ? await this.#confirmLink(contact, now)
          : undefined;
        const entries: OutboxEntry[] = [];
        for (const n of notices) {
          const links = await this.#links(contact, n.kind, n.credit?.orderId, now);
          const link = n.kind === 'topped-up' ? confirm : undefined;
          entries.push(...this.#entries(n, change, contact, now, link, links));
        }
        try {
          await this.#d.state.commit(decision.next, entries, this.#d.config.outboxRetentionDays);
        } catch (err) {
          if (err instanceof NoticeStateConflictError) {
            summary.conflicts++;
            return;
          }
          throw err;
        }
        summary.saved++;
        states.set(id, decision.next);
        for (const e of entries) {
          count(e.status === 'pending' ? await this.#attempt(e, decision.next) : e.status);
        }
        if (contact && notices.some((n) => n.kind === 'topped-up')) await this.#touch(id, now);
      }
    });
    return summary;
  }

  /**
   * The confirmation link for a receipt to an email only captured from a payment. Without it
   * (no secret, Secrets Manager failing) the receipt still goes, and the next one asks again.
   */
  async #confirmLink(contact: CustomerContact | undefined, now: Date) {
    const email = contact && unconfirmedEmail(contact);
    if (!email || !this.#d.confirmLink) return undefined;
    try {
      return await this.#d.confirmLink(contact.customerId, email, now);
    } catch (err) {
      logger.warn('receipt sent without a confirmation link', {
        customerId: contact.customerId,
        error: err instanceof Error ? err.name : 'unknown',
      });
      return undefined;
    }
  }

  /**
   * The page link and unsubscribe headers of one notice, for the addresses it goes to. Without
   * them (Secrets Manager failing) the notice still goes.
   */
  async #links(
    contact: CustomerContact | undefined,
    kind: NoticeKind,
    receiptOf: string | undefined,
    now: Date,
  ): Promise<NoticeLinks | undefined> {
    if (!contact || !this.#d.links) return undefined;
    const to = noticeAddresses(contact, kind === 'topped-up' ? receiptOf : undefined);
    if (!to.email && !to.phone) return undefined;
    try {
      return await this.#d.links(contact.customerId, to.email?.to, now);
    } catch (err) {
      logger.warn('notice sent without page link', {
        customerId: contact.customerId,
        error: err instanceof Error ? err.name : 'unknown',
      });
      return undefined;
    }
  }

  /**
   * The link that confirms an address the customer asked for on their page, to that address
   * alone (it is not the customer's until confirmed). Counted against the daily email cap,
   * so a page cannot be used to mail strangers. Answers the entry's resulting status.
   */
  async sendEmailConfirmation(input: {
    customerId: string;
    email: string;
    link: string;
    locale: NoticeLocale;
  }): Promise<SendResult> {
    const now = this.#clock();
    if (!this.#d.config.enabled || !this.#d.email) return 'channel off';
    const text = renderNotice(
      { kind: 'email-confirmation', customerId: input.customerId, confirmLink: input.link },
      input.locale,
    );
    const links = await this.#d.links?.(input.customerId, input.email, now).catch(() => undefined);
    const entry: OutboxEntry = {
      customerId: input.customerId,
      // Each request its own notice: asking again sends again (within the daily cap).
      noticeId: `email-confirmation#${randomUUID()}`,
      kind: 'email-confirmation',
      locale: input.locale,
      createdAt: now.toISOString(),
      attempts: 0,
      channel: 'email',
      status: 'pending',
      to: input.email,
      subject: text.subject,
      text: text.email,
      ...(links?.unsubscribe ? { headers: links.unsubscribe } : {}),
      notBefore: new Date(now.getTime() + SEND_LEASE_MS).toISOString(),
    };
    const added = await this.#d.outbox.addNew([entry], this.#d.config.outboxRetentionDays);
    const [e] = added;
    return e ? this.#attempt(e, undefined) : 'taken';
  }

  /**
   * The bound address changed: the one that had the notices is told where they go now (a
   * customer whose address was taken over learns it). Counted against the daily email cap.
   */
  async sendEmailChanged(input: {
    customerId: string;
    /** The previous address, in full. */
    email: string;
    /** The new one, masked. */
    masked: string;
    locale: NoticeLocale;
  }): Promise<SendResult> {
    const now = this.#clock();
    if (!this.#d.config.enabled || !this.#d.email) return 'channel off';
    const text = renderNotice(
      { kind: 'email-changed', customerId: input.customerId, newAddress: input.masked },
      input.locale,
    );
    const entry: OutboxEntry = {
      customerId: input.customerId,
      noticeId: `email-changed#${randomUUID()}`,
      kind: 'email-changed',
      locale: input.locale,
      createdAt: now.toISOString(),
      attempts: 0,
      channel: 'email',
      status: 'pending',
      to: input.email,
      subject: text.subject,
      text: text.email,
      notBefore: new Date(now.getTime() + SEND_LEASE_MS).toISOString(),
    };
    const [e] = await this.#d.outbox.addNew([entry], this.#d.config.outboxRetentionDays);
    return e ? this.#attempt(e, undefined) : 'taken';
  }

  /** A customer who tops up is active: their contact is kept longer. Never fails the run. */
  async #touch(customerId: string, now: Date) {
    try {
      await this.#d.contacts.touch(customerId, now);
    } catch (err) {
      logger.warn('contact retention not extended', {
        customerId,
        error: err instanceof Error ? err.name : 'unknown',
      });
    }
  }

  /**
   * A notice that belongs to no balance episode (auto top-up's): recorded once per
   * `noticeId` on each of the customer's channels and sent like the others (email now, SMS
   * in the customer's daytime, failures again later). Seen again, it is not sent again.
   */
  async sendOnce(notice: OneOffNotice): Promise<SendResult[]> {
    const contact = await this.#d.contacts.get(notice.customerId);
    const now = this.#clock();
    const link = notice.link ?? paymentLinkFor(this.#d.paymentLinkUrl, notice.customerId);
    const links = await this.#links(contact, notice.kind, undefined, now);
    const entries = this.#channelEntries(
      {
        kind: notice.kind,
        customerId: notice.customerId,
        ...(link ? { paymentLink: link } : {}),
      },
      notice,
      contact,
      now,
      undefined,
      undefined,
      links,
    );
    const added = await this.#d.outbox.addNew(entries, this.#d.config.outboxRetentionDays);
    const out: SendResult[] = [];
    for (const e of added)
      out.push(e.status === 'pending' ? await this.#attempt(e, undefined) : e.status);
    return out;
  }

  /**
   * Sends what is due: SMS whose quiet hours ended, retries, attempts a crash cut short.
   * The local runtime may call it on its own; onBalances calls it first.
   */
  async deliverDue(): Promise<SendResult[]> {
    const due = await this.#d.outbox.due(this.#clock());
    if (due.length === 0) return [];
    const states = await this.#d.state.getMany([...new Set(due.map((e) => e.customerId))]);
    const out: SendResult[] = [];
    for (const e of due) out.push(await this.#attempt(e, states.get(e.customerId)));
    return out;
  }

  #entries(
    n: NoticeIntent,
    change: BalanceChange,
    contact: CustomerContact | undefined,
    now: Date,
    confirmLink: string | undefined,
    links: NoticeLinks | undefined,
  ): OutboxEntry[] {
    const b = change.after;
    const link = paymentLinkFor(this.#d.paymentLinkUrl, b.customerId);
    return this.#channelEntries(
      {
        kind: n.kind,
        customerId: b.customerId,
        ...(b.account ? { account: b.account } : {}),
        // A receipt to a customer not calibrated yet names no balance: there is none to give.
        ...(b.uncalibrated ? {} : { balanceMb: b.balanceMb, daysLeft: b.daysLeft }),
        ...(n.credit ? { creditMb: n.credit.mb } : {}),
        ...(link ? { paymentLink: link } : {}),
      },
      n,
      contact,
      now,
      confirmLink,
      n.credit?.orderId,
      links,
    );
  }

  /**
   * One outbox entry per channel the customer can be reached on, in their locale: bound
   * addresses for every notice, one captured from a payment for that payment's receipt only
   * (noticeAddresses), which names neither the account nor the balance. Only the operator's
   * name greets, and only at a bound address; a payer's never reaches a message. Only a bound
   * address gets the page link; every email gets one-click unsubscribe for its own address.
   * A reminder is skipped on a channel the customer turned reminders off for.
   */
  #channelEntries(
    facts: NoticeFacts,
    n: Pick<NoticeIntent, 'noticeId' | 'episode'>,
    contact: CustomerContact | undefined,
    now: Date,
    confirmLink?: string,
    receiptOf?: string,
    links?: NoticeLinks,
  ): OutboxEntry[] {
    const cfg = this.#d.config;
    const locale: NoticeLocale = contact?.locale ?? cfg.defaultLocale;
    const addresses = contact
      ? noticeAddresses(contact, facts.kind === 'topped-up' ? receiptOf : undefined)
      : {};
    const texts = noticeTexts(facts, contact, addresses, locale, confirmLink, links);
    const base: EntryBase = {
      customerId: facts.customerId,
      noticeId: n.noticeId,
      kind: facts.kind,
      locale,
      createdAt: now.toISOString(),
      attempts: 0,
      ...(n.episode === undefined ? {} : { episode: n.episode }),
    };
    const skipped = (reason: OutboxReason) => [skippedEntry(base, reason, texts.full)];
    if (!cfg.enabled) return skipped('notices disabled');
    if (contact && !contact.notices) return skipped('opted out');
    const lease = new Date(now.getTime() + SEND_LEASE_MS).toISOString();
    const reminder = REMINDERS.includes(facts.kind);
    const email = addresses.email?.to;
    const phone = addresses.phone?.to;
    const out: OutboxEntry[] = [];
    if (email && this.#d.email) {
      out.push(
        reminder && contact?.reminders.email === false
          ? {
              ...base,
              channel: 'email',
              status: 'skipped',
              reason: 'opted out',
              to: email,
              text: texts.email.email,
            }
          : emailEntry(base, email, texts.email, links, lease),
      );
    }
    if (phone && this.#d.sms)
      out.push(this.#smsEntry(base, phone, texts.sms, contact, now, lease, reminder));
    return out.length > 0 ? out : skipped('no contact');
  }

  /** The SMS entry: skipped (reminders off, country not allowed), deferred to daytime or due. */
  #smsEntry(
    base: EntryBase,
    phone: string,
    text: string,
    contact: CustomerContact | undefined,
    now: Date,
    lease: string,
    reminder: boolean,
  ): OutboxEntry {
    const sms = { ...base, channel: 'sms', to: phone, text } as const;
    if (reminder && contact?.reminders.sms === false) {
      return { ...sms, status: 'skipped', reason: 'opted out' };
    }
    if (!smsAllowed(phone, this.#d.config.smsCountries)) {
      return { ...sms, status: 'skipped', reason: 'country not allowed' };
    }
    const at = nextSmsTime(now, this.#window(contact));
    if (at.getTime() > now.getTime()) {
      return { ...sms, status: 'deferred', notBefore: at.toISOString(), reason: 'quiet hours' };
    }
    return { ...sms, status: 'pending', notBefore: lease };
  }

  /**
   * Takes one of today's notices on the entry's channel. Receipts may use the whole cap,
   * reminders all but the last one: a day of reminders still leaves the receipt of the top-up
   * they asked for. (Payers can cause receipts, so receipts are capped too.) Answers the
   * cap when the entry is over it.
   */
  async #overCap(e: OutboxEntry, now: Date): Promise<number | undefined> {
    const { dailyCap, defaultTimeZone } = this.#d.config;
    const cap = dailyCap[e.channel === 'sms' ? 'sms' : 'email'];
    const limit = e.kind === 'topped-up' || cap === 1 ? cap : cap - 1;
    const day = dayInZone(now, defaultTimeZone);
    return (await this.#d.outbox.countSend(e.customerId, e.channel, day, limit)) ? undefined : cap;
  }

  #window(contact: CustomerContact | undefined): SmsWindow {
    const { fromHour, toHour } = this.#d.config.sms;
    return { fromHour, toHour, timeZone: contact?.timeZone ?? this.#d.config.defaultTimeZone };
  }

  /**
   * One attempt at an open entry. An episode notice that is out of date when due (the
   * customer topped up or moved on during quiet hours) is dropped, not sent.
   */
  async #attempt(e: OutboxEntry, state: NoticeState | undefined): Promise<SendResult> {
    const outbox = this.#d.outbox;
    const now = this.#clock();
    const level = e.kind === 'used-up' ? 'empty' : 'low';
    if (
      e.episode !== undefined &&
      state &&
      (state.episode !== e.episode || state.level !== level)
    ) {
      await outbox.settle(e, { status: 'dropped', reason: 'episode over' });
      return 'dropped';
    }
    const channel =
      e.channel === 'email' ? this.#d.email : e.channel === 'sms' ? this.#d.sms : undefined;
    if (!channel || !this.#d.config.enabled) {
      await outbox.settle(e, { status: 'dropped', reason: 'channel off' });
      return 'dropped';
    }
    // The allowed countries may have shrunk since a deferred SMS was recorded.
    if (e.channel === 'sms' && !smsAllowed(e.to ?? '', this.#d.config.smsCountries)) {
      await outbox.settle(e, { status: 'dropped', reason: 'country not allowed' });
      return 'dropped';
    }
    // A new entry was placed in the window just now; anything older is checked again.
    if (e.channel === 'sms' && !(e.status === 'pending' && e.attempts === 0)) {
      const contact = await this.#d.contacts.get(e.customerId);
      const at = nextSmsTime(now, this.#window(contact));
      if (at.getTime() > now.getTime()) {
        await outbox.settle(e, {
          status: 'deferred',
          reason: 'quiet hours',
          notBefore: at.toISOString(),
        });
        return 'deferred';
      }
    }
    const claimed = await outbox.claim(e, now, SEND_LEASE_MS);
    if (!claimed) return 'taken';
    // Counted once per notice, on its first attempt; a retry was counted already.
    const over = claimed.attempts === 1 ? await this.#overCap(claimed, now) : undefined;
    if (over !== undefined) {
      await outbox.settle(claimed, { status: 'capped', reason: `over the daily cap of ${over}` });
      return 'capped';
    }
    try {
      const { messageId } = await channel.send(claimed);
      await outbox.settle(claimed, {
        status: channel.delivered,
        sentAt: this.#clock().toISOString(),
        ...(messageId ? { messageId } : {}),
      });
      recordNotice(channel.delivered, claimed);
      return channel.delivered;
    } catch (err) {
      if (!(err instanceof NoticeDeliveryError)) throw err;
      const again = err.retryable && claimed.attempts < MAX_ATTEMPTS;
      // Never the recipient: the customer, the notice and why.
      logger.warn('customer notice not delivered', {
        customerId: claimed.customerId,
        notice: claimed.noticeId,
        channel: claimed.channel,
        attempt: claimed.attempts,
        error: err.message,
        retry: again,
      });
      await outbox.settle(
        claimed,
        again
          ? {
              status: 'retry',
              reason: err.message,
              notBefore: new Date(now.getTime() + RETRY_AFTER_MS).toISOString(),
            }
          : { status: 'failed', reason: err.message },
      );
      recordNotice(again ? 'retry' : 'failed', claimed);
      return again ? 'retry' : 'failed';
    }
  }
}
