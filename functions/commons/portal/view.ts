import type { AutoTopupStore } from '../autotopup/store/autotopup.ts';
import type { AutoTopupRecord } from '../autotopup/types.ts';
import type { Config } from '../config/schema.ts';
import {
  type CustomerContactStore,
  maskContact,
  pendingEmailOf,
  type Reminders,
} from '../customer-notices/store/customer-contacts.ts';
import { balanceFigures, countedMb } from '../customers/balance.ts';
import type { CustomerBalanceStore } from '../customers/store/customer-balances.ts';
import type { CustomerRecordStore } from '../customers/store/customer-records.ts';
import type { UsageStore } from '../pollers/store/usage.ts';
import { addDays, Decimal, dayInZone, mbToGb } from '../units.ts';
import type { PortalRecord } from './store.ts';

/** What the page reads, each the existing store of its aggregate. */
export interface ViewStores {
  balances: Pick<CustomerBalanceStore, 'get'>;
  contacts: Pick<CustomerContactStore, 'get'>;
  autoTopup: Pick<AutoTopupStore, 'get'>;
  usage: Pick<UsageStore, 'storedByCustomer'>;
  records: Pick<CustomerRecordStore, 'recentByCustomer'>;
}

export const USAGE_DAYS = 30;
export const HISTORY_DAYS = 366;
/** The history shows at most this many lines: one request whatever the customer's history. */
export const HISTORY_LIMIT = 200;

export interface HistoryLine {
  at: string;
  kind: 'top-up' | 'deduction';
  gb: Decimal;
  /** Stable per record, for the customer to quote. */
  receipt: string;
}

export interface AutoTopupView {
  enabled: boolean;
  packageId: string;
  quantity: number;
  belowGb: string;
  orDaysLeft?: number;
  maxPerMonth?: number;
  card: boolean;
  underWay: boolean;
}

/** Everything the page shows for one customer; nothing in it belongs to anyone else. */
export interface PortalView {
  customerId: string;
  account?: string;
  /** Absent until the balance poll has seen the customer. */
  balance?: {
    gb: Decimal;
    /** False while the balance is negative only for want of an opening balance. */
    calibrated: boolean;
    daysLeft: number | null;
    burnGb: Decimal | null;
    asOf: string;
  };
  usage: { day: string; gb: number }[];
  history: HistoryLine[];
  historyMore: boolean;
  autoTopup?: AutoTopupView;
  /** Masked addresses; `pending` is the one the customer asked for, not yet confirmed. */
  notices: { reminders: Reminders; email?: string; phone?: string; pending?: string };
  timeZone: string;
}

function autoTopupView(r: AutoTopupRecord | undefined): AutoTopupView | undefined {
  if (!r) return undefined;
  const view: AutoTopupView = {
    enabled: r.enabled,
    packageId: r.packageId,
    quantity: r.quantity,
    belowGb: r.belowGb,
    card: Boolean(r.paymentMethod),
    underWay: r.episode !== undefined,
  };
  if (r.orDaysLeft !== undefined) view.orDaysLeft = r.orDaysLeft;
  if (r.maxPerMonth !== undefined) view.maxPerMonth = r.maxPerMonth;
  return view;
}

/**
 * One customer's page, in five requests run together (balance, contact, auto top-up, 30
 * days of usage, one page of the last 12 months of records) whatever the history's length.
 * The usage days still open (not finished in the usage store) come from the balance's own
 * recent days, so the chart needs no read of the store's open parts and agrees with the
 * balance it sits under.
 */
export async function loadView(
  stores: ViewStores,
  config: Pick<Config, 'upstream' | 'customers'>,
  portal: PortalRecord,
  now: Date,
): Promise<PortalView> {
  const { customerId } = portal;
  const today = dayInZone(now, config.upstream.timeZone);
  const from = addDays(today, 1 - USAGE_DAYS);
  const [stored, contact, auto, usage, recent] = await Promise.all([
    stores.balances.get(customerId),
    stores.contacts.get(customerId),
    stores.autoTopup.get(customerId),
    stores.usage.storedByCustomer(customerId, from, today),
    stores.records.recentByCustomer(customerId, addDays(today, -HISTORY_DAYS), HISTORY_LIMIT),
  ]);
  const byDay = new Map<string, Decimal>(
    usage.map((u) => [u.day, countedMb(u, config.customers.usageCounts)] as const),
  );
  for (const [day, mb] of stored?.state.recent ?? []) byDay.set(day, mb);
  const view: PortalView = {
    customerId,
    usage: Array.from({ length: USAGE_DAYS }, (_, i) => {
      const day = addDays(from, i);
      return { day, gb: mbToGb(byDay.get(day) ?? 0).toNumber() };
    }),
    history: recent.records.map((r) => ({
      at: r.at,
      kind: r.type === 0 ? 'top-up' : 'deduction',
      gb: mbToGb(r.mb),
      receipt: r.key
        .replace(/[^0-9A-Za-z]/g, '')
        .slice(-12)
        .toUpperCase(),
    })),
    historyMore: recent.more,
    notices: {
      // The operator's "no notices" turns every reminder off whatever the customer chose.
      reminders: {
        email: (contact?.notices ?? true) && (contact?.reminders.email ?? true),
        sms: (contact?.notices ?? true) && (contact?.reminders.sms ?? true),
      },
    },
    timeZone: portal.timeZone ?? contact?.timeZone ?? 'UTC',
  };
  const email = contact?.email ?? contact?.paymentEmail;
  const phone = contact?.phone ?? contact?.paymentPhone;
  if (email) view.notices.email = maskContact(email);
  if (phone) view.notices.phone = maskContact(phone);
  const pending = contact && pendingEmailOf(contact, now);
  if (pending) view.notices.pending = maskContact(pending);
  const autoTopup = autoTopupView(auto);
  if (autoTopup) view.autoTopup = autoTopup;
  if (stored) {
    const f = balanceFigures(stored.state, today, now);
    const gb = mbToGb(f.balanceMb);
    const burn = [f.burn1dMb, f.burn7dMb].filter((b): b is string => b !== null);
    view.balance = {
      gb,
      calibrated: !f.uncalibrated,
      daysLeft: f.daysLeft,
      burnGb: burn.length ? mbToGb(Decimal.min(...burn)) : null,
      asOf: stored.updatedAt || f.asOf,
    };
    const account = stored.state.account ?? f.account;
    if (account) view.account = account;
  }
  return view;
}
