import type { AutoTopupConfig } from '../config/autotopup.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { RECENT_CREDITS_WINDOW_MS } from '../customers/balance.ts';
import { canonicalCustomerId } from '../customers/ids.ts';
import { LISTENER_NAMES } from '../customers/listeners.ts';
import type { BalanceChange, BalanceListener, CustomerBalance } from '../customers/types.ts';
import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import { capMonth } from '../payments/catalog.ts';
import { type LedgerReads, orderKeyText } from '../payments/ledger/ledger-read.ts';
import type { PoolSnapshot, SnapshotStore } from '../pollers/store/snapshots.ts';
import { matchInWindows } from '../reconcile/match.ts';
import type { CreditSource } from '../reconcile/run.ts';
import { Decimal, formatGb, gbToMb, mbToGb, sum } from '../units.ts';
import type { AutoTopupNotices } from './notices.ts';
import { turnedOffSubject } from './settings.ts';
import type { AutoTopupStore } from './store/autotopup.ts';
import {
  type ChargeResult,
  StripeAccessError,
  type StripeApi,
  StripeIdempotencyError,
  StripeUnavailableError,
} from './stripe-api.ts';
import type { AutoTopupRecord, Episode, HistoryLine, Refusal } from './types.ts';

/**
 * The charge engine, a BalanceListener: when a customer who opted in runs low it starts one
 * episode and charges the saved card once for it (README "Auto top-up"). The claim is a
 * conditional write made before Stripe is asked, so of two runs at once one charges; the
 * idempotency key (customer, episode, attempt) makes a retry after a crash get the same
 * PaymentIntent. Traffic is credited only by the webhook once Stripe confirms; the episode
 * ends when the balance shows that credit. Every call that may charge first checks the charge
 * is still wanted (on, low, within the limits); a resume first asks Stripe whether the charge
 * exists. Episodes due for a retry or a resume are found on every run, whether or not the
 * customer's balance changed.
 */

export interface AutoTopupDeps {
  store: Pick<
    AutoTopupStore,
    'get' | 'getMany' | 'commit' | 'openEpisodes' | 'blockedCustomers' | 'monthGb'
  >;
  /** Built per run: the API key comes from the secret cache and may rotate. */
  stripe: () => Promise<StripeApi>;
  /**
   * Orders by key, the credits of a time range (the ones a balance may not show yet), and the
   * paid orders still landing (credited upstream perhaps, not in the ledger yet).
   */
  ledger: Pick<LedgerReads, 'getOrder' | 'listPaidNotCredited'> & CreditSource;
  /** The balances as last computed, for open episodes whose customer's balance did not change. */
  balances: { current(customerIds: readonly string[]): Promise<Map<string, CustomerBalance>> };
  snapshots: Pick<SnapshotStore, 'latest'>;
  /** Agent alerts; `resolve` closes the pool alert once it passes. */
  sink: OpsEventSink;
  notices: AutoTopupNotices;
  clock: () => Date;
  config: { autoTopup: AutoTopupConfig; payments: PaymentsConfig };
}

type Line = Omit<HistoryLine, 'at'>;
type Mutation = { next: AutoTopupRecord; lines: Line[] } | undefined;

const BY = 'auto';
/** Attempts of a write that lost to a concurrent one (a CLI change, say) before giving up. */
const WRITE_ROUNDS = 5;
/** The upstream stamps a record in whole seconds by its own clock: this far apart is "at once". */
const RECORD_SKEW_MS = 60_000;
/**
 * How far back the ledger's credits are read: every record the balance keeps, so a record
 * whose credit the ledger has is never free for another credit's window to take.
 */
const UNSHOWN_LOOKBACK_MS = RECENT_CREDITS_WINDOW_MS + RECORD_SKEW_MS;
/**
 * How long a healed episode credit whose window holds a same-MB record that may be another's
 * (a console top-up) waits for surer signs before it is taken as shown: the records' listing
 * lag is minutes, and the customer just got the credit. A paid order still landing waits as
 * long from its creation (past it, the uncredited-orders alert has named it to an agent).
 */
const SHOWN_WAIT_MS = 3_600_000;

/**
 * Both the balance and the days left count; either one below its threshold is "low". A
 * balance not calibrated yet is no balance: never low, so never charged on.
 */
export function isLow(rec: AutoTopupSettingsLike, balance: CustomerBalance): boolean {
  if (balance.uncalibrated) return false;
  if (new Decimal(balance.balanceMb).lt(gbToMb(rec.belowGb))) return true;
  return (
    rec.orDaysLeft !== undefined && balance.daysLeft !== null && balance.daysLeft <= rec.orDaysLeft
  );
}

type AutoTopupSettingsLike = Pick<AutoTopupRecord, 'belowGb' | 'orDaysLeft'>;

export const idempotencyKey = (customerId: string, ep: Pick<Episode, 'n' | 'attempt'>) =>
  `flowpilot-autotopup-${customerId}-${ep.n}-${ep.attempt}`;

/** As the orders CLI shows amounts: minor units (cents, fen, whole yen) and the currency. */
const money = (minor: number, currency: string) => `${minor} ${currency}`;
/** One subject for the whole Stripe key: closed by the first call Stripe answers again. */
const STRIPE_ACCESS = 'autotopup:stripe-access';

/** A batch shares what the pool still owes: the pending top-ups, counted once. */
interface Batch {
  /** Every customer with an open episode, read once per batch. */
  open?: AutoTopupRecord[];
  /** The ledger's credits and paid orders still landing of the lookback, read once per batch. */
  ledger?: {
    credits: Awaited<ReturnType<CreditSource['listCredited']>>;
    landing: Awaited<ReturnType<LedgerReads['listPaidNotCredited']>>;
  };
  pendingMb?: Decimal;
  /** The pool's latest snapshot, read once per batch (null: there is none). */
  snapshot?: PoolSnapshot | null;
}

export class AutoTopupEngine implements BalanceListener {
  readonly name = LISTENER_NAMES.autoTopup;
  readonly #deps: AutoTopupDeps;
  /**
   * Whether this run already closed a `stripe-access` alert after Stripe answered: reset by
   * every run, since a warm container keeps the engine while a key is revoked and restored.
   */
  #accessSettled = false;

  constructor(deps: AutoTopupDeps) {
    this.#deps = deps;
  }

  async onBalances(changes: readonly BalanceChange[]): Promise<void> {
    const batch: Batch = {};
    this.#accessSettled = false;
    // Most customers never opted in: one batched read finds the few that did.
    const records = await this.#deps.store.getMany(changes.map((c) => c.after.customerId));
    // A message may run after a newer one (async retries keep no order): of the customers
    // who opted in, one batched read of the stored balances finds a newer one to act on.
    const stored = records.size > 0 ? await this.#deps.balances.current([...records.keys()]) : null;
    for (const change of changes) {
      const rec = records.get(change.after.customerId);
      if (!rec) continue;
      const newest = newerOf(change, stored?.get(rec.customerId));
      await this.#guarded(rec.customerId, () => this.#one(rec, newest, batch));
    }
    await this.#due(new Set(changes.map((c) => c.after.customerId)), batch);
  }

  /** One customer's failure must not keep the others from their top-up. */
  async #guarded(customerId: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      logger.error('auto top-up failed for a customer', {
        customerId,
        error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown',
      });
    }
  }

  /**
   * Open episodes with something due (a retry, a resume, a check at Stripe, a credit to find
   * in the balance) and customers refused a charge whose reason may have passed (the pool,
   * the monthly cap; a cooldown or month over), of customers whose balance did not change this
   * run: they act on the balance as last computed, which is still the balance. A customer who
   * cannot use traffic has a balance that no longer changes. Cost per run: one query of each
   * index; for N customers due, N/100 batched reads of records and of balances, and for each
   * one refused by the pool or the cap its month's GB (one read) and, while held back, a
   * repeat raise of its pool alert (folded by the sink).
   */
  async #due(changed: ReadonlySet<string>, batch: Batch): Promise<void> {
    const now = this.#deps.clock();
    batch.open ??= await this.#deps.store.openEpisodes();
    const refused = await this.#deps.store.blockedCustomers();
    const open = batch.open.filter(
      (r) =>
        !changed.has(r.customerId) && isDue(r, now, this.#deps.config.autoTopup.actionWaitHours),
    );
    const retry = refused.filter(
      (r) => !changed.has(r.customerId) && (r.lookAgain || this.#mayPass(r, now)),
    );
    const due = [...open, ...retry].map((r) => r.customerId);
    if (due.length === 0) return;
    const [records, balances] = await Promise.all([
      this.#deps.store.getMany(due),
      this.#deps.balances.current(due),
    ]);
    const isOpen = new Set(open.map((r) => r.customerId));
    for (const customerId of due) {
      const rec = records.get(customerId);
      const after = balances.get(customerId);
      if (!rec) continue;
      if (!after) {
        // No balance stored yet: the poll hands its first one as a change.
        if (rec.lookAgain) await this.#guarded(customerId, () => this.#looked(rec));
        continue;
      }
      const change: BalanceChange = { before: after, after, credits: [] };
      if (isOpen.has(customerId)) {
        if (rec.episode) await this.#guarded(customerId, () => this.#continue(rec, change, batch));
      } else if (!rec.episode && (rec.blocked || rec.lookAgain)) {
        await this.#guarded(customerId, async () => {
          await this.#one(rec, change, batch);
          if (rec.lookAgain) await this.#looked(rec);
        });
      }
    }
  }

  /**
   * Looked at once since its settings changed: out of the index unless refused. Only the
   * version looked at: a write since (a newer settings save) keeps it for the next run.
   */
  async #looked(rec: AutoTopupRecord): Promise<void> {
    await this.#write(rec, (r) =>
      r.lookAgain && r.version === rec.version
        ? { next: { ...r, lookAgain: undefined }, lines: [] }
        : undefined,
    );
  }

  /**
   * Whether a refusal may have passed: a cooldown or a monthly limit once over (no read);
   * the pool and the monthly cap at any time. The others pass only by a settings change.
   */
  #mayPass(rec: AutoTopupRecord, now: Date): boolean {
    switch (rec.blocked) {
      case 'pool':
      case 'monthly-cap':
        return true;
      case 'cooldown': {
        const hours = this.#deps.config.autoTopup.cooldownHours;
        return Date.parse(rec.lastEpisodeAt ?? '') + hours * 3_600_000 <= now.getTime();
      }
      case 'monthly-limit':
        return rec.month !== capMonth(now, this.#deps.config.payments.capTimeZone);
      default:
        return false;
    }
  }

  async #one(rec: AutoTopupRecord, change: BalanceChange, batch: Batch): Promise<void> {
    if (rec.episode) return this.#continue(rec, change, batch);
    if (!rec.enabled) {
      if (!rec.poolAlerted) return;
      await this.#closePoolAlert(rec, 'Auto top-up is off.');
      await this.#write(rec, (r) => ({ next: { ...r, poolAlerted: undefined }, lines: [] }));
      return;
    }
    const now = this.#deps.clock();
    if (!isLow(rec, change.after)) {
      if (rec.poolAlerted) await this.#closePoolAlert(rec, 'The customer is no longer low.');
      if (rec.blocked || rec.poolAlerted) {
        await this.#write(rec, (r) => ({
          next: { ...r, blocked: undefined, poolAlerted: undefined },
          lines: r.blocked
            ? [{ by: BY, event: 'recovered', detail: 'balance back above the threshold' }]
            : [],
        }));
      }
      return;
    }
    const refusal = await this.#refusal(rec, now, batch);
    if (refusal) return this.#block(rec, refusal);
    // Never on a balance known to be stale: credits the ledger has may not show yet.
    const known = await this.#known(rec.customerId, change.after, now, batch);
    if (!isLow(rec, known)) return;
    await this.#start(rec, known, now, batch);
  }

  /**
   * The balance plus the credits FlowPilot's ledger has for the customer that the balance
   * does not show yet (the upstream lists its records late): what "low" is decided on. A
   * paid order still landing (RECEIVED or CREDITING: its answer lost, its run killed before
   * the ledger write) counts as landed unless a record may be it: the upstream may have
   * applied it already, and a charge on top of it is one the customer did not need. A record
   * in its window may as well be a console top-up with the order still to land (Stripe
   * retrying after a 502): it is taken for the order only SHOWN_WAIT_MS after the order's
   * creation, so a low customer is served within the hour. One
   * that never lands leaves that state (credited, or failed and alerted) and stops counting;
   * one stuck past the lookback is a person's, alerted already.
   */
  async #known(
    customerId: string,
    balance: CustomerBalance,
    now: Date,
    batch: Batch,
  ): Promise<CustomerBalance> {
    const credited = await this.#credits(customerId, now, batch);
    const credits = [...credited, ...(await this.#landing(customerId, now, batch))];
    const shown = shownCredits(balance, credits);
    // A credit taken for a record that a console top-up may be (in a healed credit's gap, or
    // anywhere in a landing order's window: its own call may not have applied): not yet.
    const unsure = (c: Credit) => {
      const at = shown.get(c);
      if (at === undefined) return false;
      return credited.includes(c)
        ? !surelyShown(c, at, balance, now)
        : now.getTime() - c.from < SHOWN_WAIT_MS;
    };
    const unshown = credits.filter((c) => !shown.has(c) || unsure(c));
    if (unshown.length === 0) return balance;
    const mb = new Decimal(balance.balanceMb).plus(sum(unshown.map((c) => c.mb)));
    const burns = [balance.burn1dMb, balance.burn7dMb].map((b) => new Decimal(b ?? 0));
    const burn = Decimal.min(...burns);
    return {
      ...balance,
      balanceMb: mb.toFixed(),
      daysLeft: mb.lte(0) ? 0 : burn.gt(0) ? mb.div(burn).toDecimalPlaces(1).toNumber() : null,
    };
  }

  /**
   * The ledger's reads of the lookback, once per batch: the orders still landing first, then
   * the credits, so an order credited between the two reads is in both (never in neither).
   */
  async #ledger(now: Date, batch: Batch): Promise<NonNullable<Batch['ledger']>> {
    if (batch.ledger) return batch.ledger;
    const from = new Date(now.getTime() - UNSHOWN_LOOKBACK_MS);
    const landing = await this.#deps.ledger.listPaidNotCredited(from, now);
    const credits = await this.#deps.ledger.listCredited(from, now);
    batch.ledger = { credits, landing };
    return batch.ledger;
  }

  /** The customer's credits in FlowPilot's ledger of the lookback. */
  async #credits(customerId: string, now: Date, batch: Batch): Promise<Credit[]> {
    return (await this.#ledger(now, batch)).credits
      .filter((c) => canonicalCustomerId(c.customerId) === customerId)
      .map((c) => ({
        orderKey: c.orderKey,
        from: (c.createdAt ?? c.creditedAt).getTime(),
        at: c.creditedAt.getTime(),
        mb: gbToMb(c.gb),
      }));
  }

  /**
   * The customer's paid orders still landing that the credits do not hold (read between the
   * two, an order is in both): each may show in a record from its first claim until now.
   */
  async #landing(customerId: string, now: Date, batch: Batch): Promise<Credit[]> {
    const { credits, landing } = await this.#ledger(now, batch);
    const credited = new Set(credits.map((c) => c.orderKey));
    return landing
      .filter((o) => canonicalCustomerId(o.customerId) === customerId && !credited.has(o.orderKey))
      .map((o) => ({
        orderKey: o.orderKey,
        from: o.createdAt.getTime(),
        at: now.getTime(),
        mb: gbToMb(o.gb),
      }));
  }

  /**
   * Whether the balance surely shows the episode's credit: the records it counted show more
   * of the customer's ledger credits and paid orders still landing with it than without it,
   * so no other order of the same MB (a package bought by hand) can pass for it. A credit
   * healed by a later retry may be any record of its window, and a console top-up (no order
   * at all) of the same MB in that gap could pass for it: then it is taken as shown only once
   * a record at its credit time matches, or the balance lists records past it (listed in
   * order, its own is among them), or SHOWN_WAIT_MS passed (a low customer is served).
   */
  async #shows(
    rec: AutoTopupRecord,
    ep: Episode,
    orderKey: string,
    at: string | undefined,
    balance: CustomerBalance,
    batch: Batch,
  ): Promise<boolean> {
    const now = this.#deps.clock();
    const credits = await this.#credits(rec.customerId, now, batch);
    const mb = gbToMb(ep.gb);
    const own =
      credits.find((c) => c.orderKey === orderKey && c.mb.eq(mb)) ??
      (at === undefined ? undefined : { orderKey, from: Date.parse(at), at: Date.parse(at), mb });
    if (!own) return false;
    const others = [
      ...credits.filter((c) => c !== own),
      ...(await this.#landing(rec.customerId, now, batch)),
    ];
    const base = shownCredits(balance, others).size;
    const adds = (c: Credit) => shownCredits(balance, [...others, c]).size > base;
    if (!adds(own)) return false;
    // Its window's start as the record: sure when there is no heal gap.
    return surelyShown(own, own.from, balance, now) || adds({ ...own, from: own.at });
  }

  /** Why no charge may start now, or undefined. Cheapest checks first. */
  async #refusal(rec: AutoTopupRecord, now: Date, batch: Batch): Promise<Refusal | undefined> {
    const { autoTopup, payments } = this.#deps.config;
    if (!rec.paymentMethod) {
      return {
        code: 'no-payment-method',
        detail: 'no saved card: set one with --payment-method or opt in at Stripe Checkout',
      };
    }
    const pkg = Object.hasOwn(payments.catalog, rec.packageId)
      ? payments.catalog[rec.packageId]
      : undefined;
    if (!pkg) return { code: 'unknown-package', detail: `package ${rec.packageId} is not sold` };
    const gb = new Decimal(pkg.gb).mul(rec.quantity);
    if (gb.gt(payments.maxGbPerOrder)) {
      return { code: 'order-max', detail: `${gb} GB is over payments.maxGbPerOrder` };
    }
    if (rec.lastEpisodeAt) {
      const until = new Date(rec.lastEpisodeAt).getTime() + autoTopup.cooldownHours * 3_600_000;
      if (until > now.getTime()) {
        return {
          code: 'cooldown',
          detail: `cooldown of ${autoTopup.cooldownHours} h after the last top-up, until ${new Date(until).toISOString()}`,
        };
      }
    }
    const month = capMonth(now, payments.capTimeZone);
    const max = rec.maxPerMonth ?? autoTopup.defaultMaxPerMonth;
    if (rec.month === month && rec.chargesInMonth >= max) {
      return { code: 'monthly-limit', detail: `${max} auto top-ups in ${month} already` };
    }
    const monthGb = new Decimal(await this.#deps.store.monthGb(rec.customerId, month));
    if (monthGb.plus(gb).gt(payments.monthlyCapGbPerCustomer)) {
      return {
        code: 'monthly-cap',
        detail: `${monthGb} + ${gb} GB would pass the monthly cap of ${payments.monthlyCapGbPerCustomer} GB`,
      };
    }
    return this.#poolRefusal(gb, now, batch);
  }

  /**
   * Why the pool cannot deliver `gb` more on top of what it owes already, or undefined.
   * `own`: the episode asking is open, so its GB are among the pending top-ups when the
   * batch's read of open episodes holds it (then the pool must cover the pending total only).
   */
  async #poolRefusal(
    gb: Decimal,
    now: Date,
    batch: Batch,
    own?: { customerId: string; n: number },
  ): Promise<Refusal | undefined> {
    const pool = this.#deps.config.autoTopup.pool;
    if (batch.snapshot === undefined)
      batch.snapshot = (await this.#deps.snapshots.latest(pool)) ?? null;
    const snapshot = batch.snapshot;
    if (!snapshot) return { code: 'pool', detail: `no snapshot of the ${pool} pool yet` };
    // The credits since the snapshot are counted from the ledger's lookback: past it, some
    // can no longer be seen and the snapshot alone would overstate the pool.
    const age = now.getTime() - Date.parse(snapshot.at);
    if (age > UNSHOWN_LOOKBACK_MS) {
      return {
        code: 'pool',
        detail: `the ${pool} pool's last snapshot is ${Math.floor(age / 3_600_000)} h old (the totals poll is not updating it)`,
      };
    }
    batch.pendingMb ??= await this.#pendingMb(batch, snapshot, now);
    const left = snapshot.residualMb.minus(batch.pendingMb);
    const counted =
      own !== undefined &&
      (batch.open ?? []).some((r) => r.customerId === own.customerId && r.episode?.n === own.n);
    if (left.lt(counted ? 0 : gbToMb(gb))) {
      return {
        code: 'pool',
        detail: `the ${pool} pool has ${formatGb(mbToGb(left))} after pending top-ups${counted ? ' (this one included)' : ''}, the package needs ${formatGb(gb)}`,
      };
    }
    return undefined;
  }

  /**
   * What the pool owes beyond its snapshot: the open episodes but those waiting for a decline
   * retry (not charging: they owe it again once they claim, so two waiting on a pool for one
   * do not hold each other back), every credit of the ledger
   * after the snapshot (an ended episode, a Buy order: the snapshot does not show them taken
   * yet, the longer so when the totals poll fails), and every paid order still landing (it
   * may be applied at any moment, or was without its answer). Each order counts once: one
   * that is an open episode's, or both landing and credited (read between the two), is not
   * counted again.
   */
  async #pendingMb(batch: Batch, snapshot: PoolSnapshot, now: Date): Promise<Decimal> {
    batch.open ??= await this.#deps.store.openEpisodes();
    const since = Date.parse(snapshot.at);
    const { credits, landing } = await this.#ledger(now, batch);
    const episodes = new Set(
      batch.open.flatMap((r) =>
        r.episode?.paymentIntentId
          ? [orderKeyText({ provider: 'stripe', paymentId: r.episode.paymentIntentId })]
          : [],
      ),
    );
    const credited = new Set(credits.map((c) => c.orderKey));
    return gbToMb(
      sum([
        ...batch.open.flatMap((r) =>
          r.episode && r.episode.state !== 'RETRY_WAIT' ? [r.episode.gb] : [],
        ),
        ...credits.flatMap((c) =>
          c.creditedAt.getTime() > since && !episodes.has(c.orderKey) ? [c.gb] : [],
        ),
        ...landing.flatMap((o) =>
          credited.has(o.orderKey) || episodes.has(o.orderKey) ? [] : [o.gb],
        ),
      ]),
    );
  }

  /**
   * Records why the customer is not charged, once per reason; the pool also tells the agent,
   * before the record notes it, so a run that dies between the two raises it again.
   */
  async #block(rec: AutoTopupRecord, refusal: Refusal): Promise<void> {
    const pool = refusal.code === 'pool';
    if (rec.blocked === refusal.code && !pool) return;
    // Raised at every refusal: a repeat folds into the open alert, and one closed by a run
    // whose next write was lost is news again.
    if (pool) {
      await this.#deps.sink.raise({
        kind: 'topup-failed',
        severity: 'warning',
        subject: this.#poolSubject(rec.customerId),
        summary: `Auto top-up of customer ${rec.customerId} held back: the pool cannot deliver the package`,
        details: { customerId: rec.customerId, package: rec.packageId, reason: refusal.detail },
      });
    }
    if (rec.blocked === refusal.code && rec.poolAlerted) return;
    await this.#write(rec, (r) => ({
      next: {
        ...r,
        blocked: refusal.code,
        // Refused as of the version looked at; a newer settings save is looked at again.
        lookAgain: r.version === rec.version ? undefined : r.lookAgain,
        ...(pool ? { poolAlerted: true } : {}),
      },
      lines:
        r.blocked === refusal.code
          ? []
          : [{ by: BY, event: 'not-charged', detail: `${refusal.code}: ${refusal.detail}` }],
    }));
  }

  async #start(rec: AutoTopupRecord, after: CustomerBalance, now: Date, batch: Batch) {
    const { payments, autoTopup } = this.#deps.config;
    const pkg = payments.catalog[rec.packageId];
    if (!pkg) return;
    const at = now.toISOString();
    const month = capMonth(now, payments.capTimeZone);
    const n = rec.episodeSeq + 1;
    const gb = new Decimal(pkg.gb).mul(rec.quantity);
    const episode: Episode = {
      n,
      state: 'CLAIMED',
      attempt: 1,
      startedAt: at,
      claimUntil: now.getTime() + autoTopup.claimSeconds * 1000,
      ...cardOf(rec),
      packageId: rec.packageId,
      quantity: rec.quantity,
      gb: gb.toFixed(),
      amountMinor: pkg.price * rec.quantity,
      currency: pkg.currency,
    };
    const next: AutoTopupRecord = {
      ...rec,
      version: rec.version + 1,
      episodeSeq: n,
      episode,
      lastEpisodeAt: at,
      month,
      chargesInMonth: (rec.month === month ? rec.chargesInMonth : 0) + 1,
      blocked: undefined,
      poolAlerted: undefined,
      lookAgain: undefined,
      updatedAt: at,
      updatedBy: BY,
    };
    const balance = formatGb(mbToGb(after.balanceMb));
    const why =
      after.daysLeft !== null && rec.orDaysLeft !== undefined && after.daysLeft <= rec.orDaysLeft
        ? `${balance}, ${after.daysLeft} days left`
        : `${balance} below ${formatGb(rec.belowGb)}`;
    // The pool passed for this customer: closed before the claim clears the note of it.
    if (rec.poolAlerted) await this.#closePoolAlert(rec, 'The pool covers the top-up again.');
    // The claim: whoever writes this version charges; a concurrent run finds it taken.
    const claimed = await this.#deps.store.commit(next, rec.version, [
      {
        by: BY,
        event: 'episode',
        episode: n,
        detail: `${why}: charging ${rec.packageId} × ${rec.quantity} (${formatGb(gb)}, ${money(episode.amountMinor, episode.currency)})`,
      },
    ]);
    if (!claimed) return;
    // The pool check above counted the pending top-ups; this one is pending now too.
    batch.pendingMb = (batch.pendingMb ?? new Decimal(0)).plus(gbToMb(gb));
    await this.#charge(next, episode);
  }

  /** Asks Stripe for the episode's charge and records the answer. */
  async #charge(rec: AutoTopupRecord, ep: Episode): Promise<void> {
    const { customerId } = rec;
    // Old episodes did not record their card: the record's is the one they were claimed with.
    const paymentMethod = ep.paymentMethod ?? rec.paymentMethod;
    if (!paymentMethod) return;
    const asked = await this.#askStripe(customerId, ep, (stripe) =>
      stripe.chargeOffSession({
        customerId,
        packageId: ep.packageId,
        quantity: ep.quantity,
        episode: ep.n,
        attempt: ep.attempt,
        gb: ep.gb,
        amountMinor: ep.amountMinor,
        currency: ep.currency,
        stripeCustomer: ep.stripeCustomer ?? rec.stripeCustomer,
        paymentMethod,
        idempotencyKey: idempotencyKey(customerId, ep),
      }),
    );
    if (asked === 'unreachable') return;
    if (asked !== 'idempotency') return this.#record(rec, ep, asked.answer);
    // The key was first used with other parameters: the first request may have charged.
    const found = await this.#askStripe(customerId, ep, (stripe) =>
      stripe.findCharge(this.#lookup(rec, ep)),
    );
    if (found === 'unreachable') return;
    if (found !== 'idempotency' && found.answer) return this.#record(rec, ep, found.answer);
    await this.#deps.sink.raise({
      kind: 'topup-failed',
      severity: 'critical',
      subject: `autotopup:${customerId}:idempotency:${ep.n}`,
      summary: `Auto top-up of customer ${customerId} stopped: Stripe refused the idempotency key of episode ${ep.n} and has no charge for it`,
      details: { customerId, episode: String(ep.n), attempt: String(ep.attempt) },
    });
  }

  #lookup(rec: AutoTopupRecord, ep: Episode) {
    return {
      customerId: rec.customerId,
      stripeCustomer: ep.stripeCustomer ?? rec.stripeCustomer,
      episode: ep.n,
      attempt: ep.attempt,
      since: ep.startedAt,
    };
  }

  /**
   * One Stripe call. `unreachable`: Stripe could not be asked; the claim stays, and once it
   * expires the next run asks again (a lookup first, then the same key).
   */
  async #askStripe<T>(
    customerId: string,
    ep: Episode,
    call: (stripe: StripeApi) => Promise<T>,
  ): Promise<{ answer: T } | 'idempotency' | 'unreachable'> {
    try {
      const answer = await call(await this.#deps.stripe());
      if (!this.#accessSettled) {
        // Stripe took the key again: closed, so a later refusal is news (once per run). A
        // notice that fails is the sink's to resend; the charge's answer must be recorded.
        this.#accessSettled = true;
        await this.#deps.sink
          .resolve?.('topup-failed', STRIPE_ACCESS, 'Stripe accepts the key again.')
          .catch(() => false);
      }
      return { answer };
    } catch (err) {
      if (err instanceof StripeIdempotencyError) return 'idempotency';
      if (err instanceof StripeAccessError) {
        await this.#deps.sink.raise({
          kind: 'topup-failed',
          severity: 'critical',
          subject: STRIPE_ACCESS,
          summary: `Auto top-up cannot charge: ${err.message}`,
          details: { customerId, episode: String(ep.n) },
        });
        return 'unreachable';
      }
      if (err instanceof StripeUnavailableError) {
        logger.warn('auto top-up: Stripe unavailable, retrying later', { customerId });
        return 'unreachable';
      }
      throw err;
    }
  }

  /** Writes what the charge came to, if the episode is still the one charged. */
  async #record(rec: AutoTopupRecord, ep: Episode, result: ChargeResult): Promise<void> {
    switch (result.kind) {
      case 'charged':
        return this.#recordCharged(rec, ep, result);
      case 'action-required':
        return this.#recordActionRequired(rec, ep, result);
      case 'declined':
        return this.#recordDeclined(rec, ep, result);
    }
  }

  /** Captured: the episode waits for the webhook's credit, checked again at `checkAt`. */
  async #recordCharged(
    rec: AutoTopupRecord,
    ep: Episode,
    result: Extract<ChargeResult, { kind: 'charged' }>,
  ): Promise<void> {
    const now = this.#deps.clock();
    const pi = result.paymentIntentId;
    const minutes = this.#deps.config.autoTopup.pendingCheckMinutes;
    const checkAt = new Date(now.getTime() + minutes * 60_000).toISOString();
    await this.#write(rec, (r) =>
      isCharged(r, ep)
        ? {
            next: {
              ...r,
              episode: {
                ...settledEpisode(ep),
                ...(pi ? { paymentIntentId: pi } : {}),
                state: 'PENDING',
                checkAt,
              },
            },
            lines: [
              {
                by: BY,
                event: 'charged',
                episode: ep.n,
                detail: `PaymentIntent ${pi} ${result.status} (${money(ep.amountMinor, ep.currency)}); credit follows from the webhook`,
              },
            ],
          }
        : undefined,
    );
  }

  /** The bank asks the customer to authenticate: the episode waits, the customer is told. */
  async #recordActionRequired(
    rec: AutoTopupRecord,
    ep: Episode,
    result: Extract<ChargeResult, { kind: 'action-required' }>,
  ): Promise<void> {
    const pi = result.paymentIntentId;
    const withPi = pi ? { paymentIntentId: pi } : {};
    const link = this.#actionLink(rec.customerId, pi);
    const written = await this.#write(rec, (r) =>
      isCharged(r, ep)
        ? {
            next: {
              ...r,
              episode: {
                ...settledEpisode(ep),
                ...withPi,
                state: 'ACTION_REQUIRED',
                lastCode: result.code,
                noticeDue: true,
                actionAt: this.#deps.clock().toISOString(),
              },
            },
            lines: [
              {
                by: BY,
                event: 'action-required',
                episode: ep.n,
                detail: `the bank asks the customer to authenticate (${result.code})${pi ? ` on ${pi}` : ''}; notice sent${link ? ' with a payment link' : ' (no autoTopup.actionUrl configured: no link)'}`,
              },
            ],
          }
        : undefined,
    );
    if (!written) return;
    // As written (noticeDue set), so the note that it went out applies to it.
    const stored = await this.#deps.store.get(rec.customerId);
    if (stored?.episode?.noticeDue) await this.#actionNotice(stored, stored.episode);
  }

  /**
   * Sends the 3-D Secure notice, then notes it sent; a run that dies or fails between leaves
   * it due, and the next run sends it again (the same notice id: delivered once).
   */
  async #actionNotice(rec: AutoTopupRecord, ep: Episode): Promise<void> {
    const pi = ep.paymentIntentId;
    const link = this.#actionLink(rec.customerId, pi);
    await this.#deps.notices.send({
      kind: 'authentication-required',
      customerId: rec.customerId,
      episode: ep.n,
      ...(pi ? { paymentIntentId: pi } : {}),
      ...(link ? { link } : {}),
    });
    await this.#write(rec, (r) => {
      if (r.episode?.n !== ep.n || !r.episode.noticeDue) return undefined;
      const { noticeDue: _, ...episode } = r.episode;
      return { next: { ...r, episode }, lines: [] };
    });
  }

  /** Declined: retry with backoff, then turn auto top-up off and tell both sides. */
  async #recordDeclined(
    rec: AutoTopupRecord,
    ep: Episode,
    result: Extract<ChargeResult, { kind: 'declined' }>,
  ): Promise<void> {
    const { autoTopup } = this.#deps.config;
    const pi = result.paymentIntentId;
    const giveUp = ep.attempt >= autoTopup.maxDeclines;
    const wait = autoTopup.retryBackoffMinutes * 60_000 * 2 ** (ep.attempt - 1);
    const nextTryAt = new Date(this.#deps.clock().getTime() + wait).toISOString();
    const declined: Line = {
      by: BY,
      event: 'declined',
      episode: ep.n,
      detail: `attempt ${ep.attempt} of ${autoTopup.maxDeclines} declined (${result.code})${pi ? ` on ${pi}` : ''}${giveUp ? '' : `; next attempt at ${nextTryAt}`}`,
    };
    const written = await this.#write(rec, (r) => {
      if (!isCharged(r, ep)) return undefined;
      if (giveUp)
        return {
          next: { ...r, enabled: false, episode: undefined },
          lines: [declined, offLine(ep)],
        };
      return {
        next: {
          ...r,
          episode: {
            ...settledEpisode(ep),
            ...(pi ? { paymentIntentId: pi } : {}),
            state: 'RETRY_WAIT',
            nextTryAt,
            lastCode: result.code,
          },
        },
        lines: [declined],
      };
    });
    if (written && ep.uncreditedAlert) {
      await this.#deps.sink.resolve?.(
        'topup-failed',
        `autotopup:uncredited:${pi}`,
        'The payment failed after all; nothing to credit.',
      );
    }
    if (written && giveUp) await this.#turnedOff(rec, ep, result);
  }

  /** Auto top-up turned off after the last decline: the customer and the agent are told. */
  async #turnedOff(
    rec: AutoTopupRecord,
    ep: Episode,
    result: Extract<ChargeResult, { kind: 'declined' }>,
  ): Promise<void> {
    const pi = result.paymentIntentId;
    // Off already: a notice not recorded must not keep the agent from being told.
    await this.#deps.notices
      .send({ kind: 'turned-off', customerId: rec.customerId, episode: ep.n, reason: result.code })
      .catch((err: unknown) =>
        logger.error('auto top-up turned-off notice not recorded', {
          customerId: rec.customerId,
          error: err instanceof Error ? `${err.name}: ${err.message}` : 'unknown',
        }),
      );
    await this.#deps.sink.raise({
      kind: 'topup-failed',
      severity: 'warning',
      subject: turnedOffSubject(rec.customerId, ep.n),
      summary: `Auto top-up turned off for customer ${rec.customerId}: the card was declined ${ep.attempt} times`,
      details: {
        customerId: rec.customerId,
        package: ep.packageId,
        lastDecline: result.code,
        ...(pi ? { paymentIntent: pi } : {}),
      },
    });
  }

  /** An episode is open: end it when its credit shows, else do what is due. */
  async #continue(rec: AutoTopupRecord, change: BalanceChange, batch: Batch): Promise<void> {
    const ep = rec.episode;
    if (!ep) return;
    const now = this.#deps.clock();
    if (ep.paymentIntentId && (await this.#settled(rec, ep, ep.paymentIntentId, change, batch))) {
      return;
    }

    if (ep.state === 'CLAIMED' && (ep.claimUntil ?? 0) < now.getTime()) {
      return this.#resume(rec, ep, change.after, now, batch);
    }

    if (
      ep.state === 'PENDING' &&
      ep.paymentIntentId &&
      ep.checkAt &&
      ep.checkAt <= now.toISOString()
    ) {
      return this.#checkPending(rec, ep, ep.paymentIntentId, now);
    }

    if (ep.state === 'RETRY_WAIT') {
      if (rec.enabled && ep.nextTryAt && new Date(ep.nextTryAt).getTime() > now.getTime()) return;
      const unwanted = await this.#unwanted(rec, ep, change.after, now, batch);
      if (unwanted) return this.#close(rec, ep, `${unwanted}: no retry`);
      // Held back by the pool, the retry stays due (no attempt made, not a decline). Waiting,
      // it owed the pool nothing: the pool must cover its GB on top of what it owes.
      const short = await this.#poolRefusal(new Decimal(ep.gb), now, batch);
      if (short) return this.#block(rec, short);
      // The pool passed: closed before the claim clears the note of it (as a new episode's).
      if (rec.poolAlerted) await this.#closePoolAlert(rec, 'The pool covers the top-up again.');
      const { nextTryAt: _, paymentIntentId: __, ...rest } = ep;
      const again: Episode = {
        ...rest,
        state: 'CLAIMED',
        attempt: ep.attempt + 1,
        claimUntil: now.getTime() + this.#deps.config.autoTopup.claimSeconds * 1000,
        // A new attempt is a new request: the card the customer has now.
        ...cardOf(rec),
      };
      const next = this.#bump(rec, {
        episode: again,
        ...this.#inMonth(rec, now),
        blocked: undefined,
        poolAlerted: undefined,
      });
      const claimed = await this.#deps.store.commit(next, rec.version, [
        {
          by: BY,
          event: 'retry',
          episode: ep.n,
          detail: `attempt ${again.attempt} of ${this.#deps.config.autoTopup.maxDeclines}`,
        },
      ]);
      if (!claimed) return;
      // Claimed, it owes the pool (as a new episode): a second retry of the batch counts it.
      batch.pendingMb = (batch.pendingMb ?? new Decimal(0)).plus(gbToMb(ep.gb));
      await this.#charge(next, again);
      return;
    }

    if (ep.state === 'ACTION_REQUIRED') {
      const unwanted = !rec.enabled
        ? 'auto top-up turned off'
        : !isLow(rec, change.after)
          ? 'balance back above the threshold'
          : settingsSince(rec, ep)
            ? 'a card saved or settings changed since'
            : undefined;
      if (unwanted) return this.#withdraw(rec, ep, unwanted);
      if (actionExpired(ep, now, this.#deps.config.autoTopup.actionWaitHours)) {
        return this.#actionExpired(rec, ep);
      }
      if (ep.noticeDue) await this.#actionNotice(rec, ep);
    }
  }

  /**
   * The customer left the 3-D Secure request past `autoTopup.actionWaitHours`: an agent is
   * told (before the close, so a run that dies between tells again: the sink folds it), the
   * payment canceled, and the next low balance starts a new episode.
   */
  async #actionExpired(rec: AutoTopupRecord, ep: Episode): Promise<void> {
    const hours = this.#deps.config.autoTopup.actionWaitHours;
    await this.#deps.sink.raise({
      kind: 'topup-failed',
      severity: 'warning',
      subject: `autotopup:action:${rec.customerId}:${ep.n}`,
      summary: `Auto top-up of customer ${rec.customerId}: 3-D Secure not completed within ${hours} h; payment canceled`,
      details: {
        customerId: rec.customerId,
        package: ep.packageId,
        ...(ep.paymentIntentId ? { paymentIntent: ep.paymentIntentId } : {}),
      },
    });
    await this.#withdraw(rec, ep, `not completed within ${hours} h`);
  }

  /**
   * Ends a waiting 3-D Secure episode no longer wanted: its PaymentIntent is canceled first,
   * so no link sent earlier can pay it (a later episode would charge again). Stripe
   * unreachable, the episode stays and a later run cancels it.
   */
  async #withdraw(rec: AutoTopupRecord, ep: Episode, why: string): Promise<void> {
    const pi = ep.paymentIntentId;
    let after = 'nothing to cancel';
    if (pi) {
      const canceled = await this.#askStripe(rec.customerId, ep, (stripe) =>
        stripe.cancelPaymentIntent(pi),
      );
      if (typeof canceled === 'string') return;
      const { status } = canceled.answer;
      // Paid meanwhile: a charge like any other, waiting for its credit (no second episode on
      // a balance that does not show it yet).
      if (status === 'succeeded' || status === 'processing') {
        return this.#recordCharged(rec, ep, { kind: 'charged', paymentIntentId: pi, status });
      }
      after =
        canceled.answer.status === 'canceled'
          ? `${pi} canceled`
          : `${pi} not canceled: ${canceled.answer.status}`;
    }
    await this.#close(rec, ep, `${why} while the bank waited for authentication; ${after}`);
  }

  /**
   * A run crashed (or Stripe was unreachable) between the claim and the answer. Stripe is
   * asked first whether the charge exists (it forgets idempotency keys after 24 hours); only
   * when it does not, and the charge is still wanted, is the same request sent again.
   */
  async #resume(
    rec: AutoTopupRecord,
    ep: Episode,
    balance: CustomerBalance,
    now: Date,
    batch: Batch,
  ): Promise<void> {
    const again: Episode = {
      ...ep,
      claimUntil: now.getTime() + this.#deps.config.autoTopup.claimSeconds * 1000,
    };
    const next = this.#bump(rec, { episode: again, ...this.#inMonth(rec, now) });
    const claimed = await this.#deps.store.commit(next, rec.version, [
      {
        by: BY,
        event: 'resume',
        episode: ep.n,
        detail: `asking Stripe about attempt ${ep.attempt} (then the same request, same idempotency key)`,
      },
    ]);
    if (!claimed) return;
    const found = await this.#askStripe(rec.customerId, again, (stripe) =>
      stripe.findCharge(this.#lookup(next, again)),
    );
    if (found === 'unreachable' || found === 'idempotency') return;
    if (found.answer) return this.#record(next, again, found.answer);
    const unwanted = await this.#unwanted(next, again, balance, now, batch);
    if (unwanted) return this.#close(next, again, `${unwanted}: attempt ${ep.attempt} not made`);
    // Held back, the claim expires and a later run resumes again (Stripe asked first).
    const short = await this.#poolRefusal(new Decimal(ep.gb), now, batch, {
      customerId: rec.customerId,
      n: ep.n,
    });
    if (short) return this.#block(next, short);
    // The pool passed: its alert closes now; the note of it goes with the next episode or recovery.
    if (next.poolAlerted) await this.#closePoolAlert(next, 'The pool covers the top-up again.');
    // Its GB are counted already: the episode is open (never recount from a stale read).
    await this.#charge(next, again);
  }

  /**
   * Why a charge the episode is about to make is no longer wanted, or undefined: turned off,
   * no longer low, no card, or over a limit (one the customer or operator lowered meanwhile,
   * or the month's GB that Checkout purchases filled: the webhook would hold the credit).
   */
  async #unwanted(
    rec: AutoTopupRecord,
    ep: Episode,
    balance: CustomerBalance,
    now: Date,
    batch: Batch,
  ): Promise<string | undefined> {
    const { autoTopup, payments } = this.#deps.config;
    if (!rec.enabled) return 'auto top-up is off';
    if (!isLow(rec, balance)) return 'balance back above the threshold';
    if (!isLow(rec, await this.#known(rec.customerId, balance, now, batch))) {
      return 'the balance does not show credits the ledger has yet';
    }
    if (!(ep.paymentMethod ?? rec.paymentMethod)) return 'no saved card';
    const gb = new Decimal(ep.gb);
    if (gb.gt(payments.maxGbPerOrder)) return `${gb} GB is over payments.maxGbPerOrder`;
    const month = capMonth(now, payments.capTimeZone);
    const max = rec.maxPerMonth ?? autoTopup.defaultMaxPerMonth;
    // The month counts this episode already; a month since begun counts it first (#inMonth).
    if (this.#inMonth(rec, now).chargesInMonth > max) {
      return `monthly limit of ${max} auto top-ups passed`;
    }
    const monthGb = new Decimal(await this.#deps.store.monthGb(rec.customerId, month));
    if (monthGb.plus(gb).gt(payments.monthlyCapGbPerCustomer)) {
      return `${monthGb} + ${gb} GB would pass the monthly cap of ${payments.monthlyCapGbPerCustomer} GB`;
    }
    return undefined;
  }

  /**
   * The monthly count once the episode's next attempt is made now: a charge counts in the
   * month it is made, so a retry or resume in a month since begun moves the episode's count
   * there (no other episode started meanwhile: it is the month's first). A resume that then
   * finds last month's charge at Stripe counts it in this month: once either way.
   */
  #inMonth(rec: AutoTopupRecord, now: Date): Pick<AutoTopupRecord, 'month' | 'chargesInMonth'> {
    const month = capMonth(now, this.#deps.config.payments.capTimeZone);
    return { month, chargesInMonth: rec.month === month ? rec.chargesInMonth : 1 };
  }

  /** Ends the episode without a charge. */
  async #close(rec: AutoTopupRecord, ep: Episode, detail: string): Promise<void> {
    await this.#write(rec, (r) =>
      r.episode?.n === ep.n && r.episode.attempt === ep.attempt && r.episode.state === ep.state
        ? {
            next: { ...r, episode: undefined },
            lines: [{ by: BY, event: 'closed', episode: ep.n, detail }],
          }
        : undefined,
    );
  }

  /**
   * Charged a while ago and still not credited: ask Stripe. A payment that failed after all
   * goes the decline way; one that succeeded without reaching the webhook is a person's job
   * (is the endpoint subscribed to `payment_intent.succeeded`?), so the agent is told.
   */
  async #checkPending(rec: AutoTopupRecord, ep: Episode, pi: string, now: Date): Promise<void> {
    let status: { status: string; code?: string };
    try {
      status = await (await this.#deps.stripe()).paymentIntentStatus(pi);
    } catch (err) {
      if (err instanceof StripeUnavailableError || err instanceof StripeAccessError) return;
      throw err;
    }
    if (status.status === 'requires_payment_method' || status.status === 'canceled') {
      const code = status.code ?? status.status;
      return this.#record(rec, ep, { kind: 'declined', paymentIntentId: pi, code, message: code });
    }
    const checkAt = new Date(
      now.getTime() + this.#deps.config.autoTopup.pendingCheckMinutes * 60_000,
    ).toISOString();
    const written = await this.#write(rec, (r) =>
      r.episode?.n === ep.n && r.episode.state === 'PENDING'
        ? {
            next: {
              ...r,
              episode: {
                ...r.episode,
                checkAt,
                ...(status.status === 'succeeded' ? { uncreditedAlert: true } : {}),
              },
            },
            lines: [
              {
                by: BY,
                event: 'not-credited',
                episode: ep.n,
                detail: `PaymentIntent ${pi} is ${status.status} at Stripe but not credited yet`,
              },
            ],
          }
        : undefined,
    );
    if (written && status.status === 'succeeded') {
      await this.#deps.sink.raise({
        kind: 'topup-failed',
        severity: 'warning',
        subject: `autotopup:uncredited:${pi}`,
        summary: `Auto top-up charged but not credited: is the Stripe webhook subscribed to payment_intent.succeeded?`,
        details: { customerId: rec.customerId, paymentIntent: pi, since: ep.startedAt },
      });
    }
  }

  /**
   * True when the episode's charge is settled: credited and shown in the balance (the episode
   * ends), credited but not shown yet (it waits, CREDITED, so no second episode starts on a
   * balance that lacks the first credit, whatever the cooldown), or final without a credit.
   */
  async #settled(
    rec: AutoTopupRecord,
    ep: Episode,
    pi: string,
    change: BalanceChange,
    batch: Batch,
  ): Promise<boolean> {
    // The balance poll names a credit by the ledger's order key.
    const orderKey = orderKeyText({ provider: 'stripe', paymentId: pi });
    const gb = `+${formatGb(ep.gb)} credited (order stripe:${pi})`;
    if (change.credits.some((c) => c.orderId === orderKey)) {
      await this.#end(rec, ep, `${gb}; episode ${ep.n} ends`);
      return true;
    }
    if (ep.state === 'CREDITED') {
      if (await this.#shows(rec, ep, orderKey, ep.creditedSince, change.after, batch)) {
        await this.#end(rec, ep, `${gb} and in the balance; episode ${ep.n} ends`);
      }
      return true;
    }
    const order = await this.#deps.ledger.getOrder({ provider: 'stripe', paymentId: pi });
    if (order?.state === 'CREDITED') {
      const at = order.creditedAt ?? order.createdAt;
      if (await this.#shows(rec, ep, orderKey, at, change.after, batch)) {
        await this.#end(rec, ep, `${gb}; episode ${ep.n} ends`);
        return true;
      }
      const written = await this.#write(rec, (r) =>
        r.episode?.n === ep.n && r.episode.state !== 'CREDITED'
          ? {
              next: {
                ...r,
                episode: { ...r.episode, state: 'CREDITED', creditedSince: order.createdAt },
              },
              lines: [
                {
                  by: 'webhook',
                  event: 'credited',
                  episode: ep.n,
                  detail: `${gb}; the balance does not show it yet, episode ${ep.n} waits for it`,
                },
              ],
            }
          : undefined,
      );
      if (written) await this.#resolveUncredited(ep, pi, gb);
      return true;
    }
    if (!isFinalNotCredited(order?.state)) return false;
    await this.#end(
      rec,
      ep,
      `order ${order?.state}${order?.reason ? ` (${order.reason})` : ''}: paid but not credited, see flowpilot order stripe:${pi}; episode ${ep.n} ends`,
    );
    return true;
  }

  async #end(rec: AutoTopupRecord, ep: Episode, detail: string): Promise<void> {
    const closed = await this.#write(rec, (r) =>
      r.episode?.n === ep.n
        ? {
            next: { ...r, episode: undefined },
            lines: [
              {
                by: 'webhook',
                event: ep.state === 'CREDITED' ? 'shown' : 'credited',
                episode: ep.n,
                detail,
              },
            ],
          }
        : undefined,
    );
    if (closed && ep.paymentIntentId) await this.#resolveUncredited(ep, ep.paymentIntentId, detail);
  }

  async #resolveUncredited(ep: Episode, pi: string, detail: string): Promise<void> {
    if (ep.uncreditedAlert) {
      await this.#deps.sink.resolve?.('topup-failed', `autotopup:uncredited:${pi}`, detail);
    }
  }

  /**
   * One alert per customer held back: closed when that customer is served or no longer low,
   * never by another customer passing while this one still waits.
   */
  #poolSubject(customerId: string): string {
    return `autotopup:pool:${this.#deps.config.autoTopup.pool}:${customerId}`;
  }

  /**
   * Closes the customer's pool alert; the caller's next write clears the note of it (in that
   * order, so a run that dies between closes it again). A notice that fails is the sink's to
   * resend, never a reason to skip the charge that follows.
   */
  async #closePoolAlert(rec: AutoTopupRecord, note: string): Promise<void> {
    await this.#deps.sink
      .resolve?.('topup-failed', this.#poolSubject(rec.customerId), note)
      .catch(() => false);
  }

  #actionLink(customerId: string, paymentIntentId: string | undefined): string | undefined {
    const template = this.#deps.config.autoTopup.actionUrl;
    if (!template) return undefined;
    return template
      .replaceAll('{customerId}', encodeURIComponent(customerId))
      .replaceAll('{paymentIntentId}', encodeURIComponent(paymentIntentId ?? ''));
  }

  #bump(rec: AutoTopupRecord, change: Partial<AutoTopupRecord>): AutoTopupRecord {
    return {
      ...rec,
      ...change,
      version: rec.version + 1,
      updatedAt: this.#deps.clock().toISOString(),
      updatedBy: BY,
    };
  }

  /**
   * Applies `mutate` to the record as stored and writes it; on losing to another writer,
   * reads again and re-applies (the mutation decides whether it still applies).
   */
  async #write(rec: AutoTopupRecord, mutate: (r: AutoTopupRecord) => Mutation): Promise<boolean> {
    let current: AutoTopupRecord | undefined = rec;
    for (let round = 0; round < WRITE_ROUNDS && current; round++) {
      const m = mutate(current);
      if (!m) return false;
      if (await this.#deps.store.commit(this.#bump(current, m.next), current.version, m.lines)) {
        return true;
      }
      current = await this.#deps.store.get(rec.customerId);
    }
    return false;
  }
}

/** The record still holds the very attempt that was charged: no other writer moved it on. */
function isCharged(r: AutoTopupRecord, ep: Episode): boolean {
  return r.episode?.n === ep.n && r.episode.attempt === ep.attempt && r.episode.state === ep.state;
}

/** The episode without its claim and its pending check: what every charge outcome keeps. */
function settledEpisode(ep: Episode): Omit<Episode, 'claimUntil' | 'checkAt'> {
  const { claimUntil: _, checkAt: __, ...settled } = ep;
  return settled;
}

function offLine(ep: Episode): Line {
  return {
    by: BY,
    event: 'off',
    episode: ep.n,
    detail: `auto top-up turned off after ${ep.attempt} declined attempts; customer and agent told`,
  };
}

function isFinalNotCredited(state: string | undefined): boolean {
  return state === 'HELD' || state === 'REJECTED' || state === 'FAILED_PERMANENT';
}

/** The card a new attempt charges, recorded on the episode so a resume sends the same. */
function cardOf(rec: AutoTopupRecord): Pick<Episode, 'paymentMethod' | 'stripeCustomer'> {
  return {
    ...(rec.paymentMethod ? { paymentMethod: rec.paymentMethod } : {}),
    ...(rec.stripeCustomer ? { stripeCustomer: rec.stripeCustomer } : {}),
  };
}

/**
 * A credit of FlowPilot's ledger: its order, when first claimed and when credited (ms; the
 * upstream applied it in between: a heal stamps `at` later than the upstream's record), its MB.
 */
interface Credit {
  orderKey: string;
  from: number;
  at: number;
  mb: Decimal;
}

/**
 * Which of `credits` the balance shows: each is matched to a credit record the balance
 * counted, of the same MB and within RECORD_SKEW_MS of [from, at], one record to at most one
 * credit (`matchInWindows`, as the reconciliation matches). A credit older than the records
 * the balance keeps shows when a newer record does (the upstream lists records in order).
 */
function shownCredits(balance: CustomerBalance, credits: readonly Credit[]): Map<Credit, number> {
  const shown = new Map<Credit, number>();
  const last = balance.lastCreditAt === null ? undefined : Date.parse(balance.lastCreditAt);
  const recent: Credit[] = [];
  for (const c of credits) {
    if (last !== undefined && c.at + RECORD_SKEW_MS < last - RECENT_CREDITS_WINDOW_MS) {
      shown.set(c, c.at);
    } else {
      recent.push(c);
    }
  }
  const records = (balance.recentCredits ?? []).map((r) => ({
    at: Date.parse(r.at),
    mb: new Decimal(r.mb),
  }));
  for (const [c, r] of matchInWindows(recent, records, RECORD_SKEW_MS)) shown.set(c, r.at);
  return shown;
}

/**
 * Whether a credit matched to a record stamped `recordAt` surely is that record: the record
 * is at its credit time (no heal gap between), or the balance lists records past its credit
 * (listed in order: its own is among them), or SHOWN_WAIT_MS passed since its credit (the
 * records' listing lag is minutes). Otherwise a console top-up of the same MB in its heal
 * gap may be the record, its own not listed yet.
 */
function surelyShown(c: Credit, recordAt: number, balance: CustomerBalance, now: Date): boolean {
  if (recordAt >= c.at - RECORD_SKEW_MS) return true;
  if (now.getTime() - c.at >= SHOWN_WAIT_MS) return true;
  return (balance.recentCredits ?? []).some((r) => Date.parse(r.at) > c.at + RECORD_SKEW_MS);
}

/**
 * The change as of the newest balance known: the stored one when a later poll wrote it after
 * this change's (its credits stay: a credit the older balance shows, the newer shows too).
 */
function newerOf(change: BalanceChange, stored: CustomerBalance | undefined): BalanceChange {
  if (!stored || Date.parse(stored.asOf) <= Date.parse(change.after.asOf)) return change;
  return { ...change, after: stored };
}

/** A settings write (a card saved, turned on again) since the episode started: it ends a wait. */
function settingsSince(rec: AutoTopupRecord, ep: Episode): boolean {
  return (
    (rec.paymentMethod !== undefined &&
      ep.paymentMethod !== undefined &&
      rec.paymentMethod !== ep.paymentMethod) ||
    Date.parse(rec.settingsChangedAt ?? '') > Date.parse(ep.startedAt)
  );
}

/** A 3-D Secure wait past its bound (from when the bank asked; older episodes: their start). */
function actionExpired(ep: Episode, now: Date, hours: number): boolean {
  return Date.parse(ep.actionAt ?? ep.startedAt) + hours * 3_600_000 <= now.getTime();
}

/** Whether an open episode has something to do even when the balance did not change. */
function isDue(rec: AutoTopupRecord, now: Date, actionWaitHours: number): boolean {
  const ep = rec.episode;
  if (!ep) return false;
  switch (ep.state) {
    case 'CLAIMED':
      return (ep.claimUntil ?? 0) < now.getTime();
    case 'RETRY_WAIT':
      return !rec.enabled || (ep.nextTryAt ?? '') <= now.toISOString();
    case 'PENDING':
      return ep.checkAt !== undefined && ep.checkAt <= now.toISOString();
    case 'CREDITED':
      return true;
    case 'ACTION_REQUIRED':
      // Turned off, it is withdrawn at once: no notice, its PaymentIntent canceled.
      return (
        ep.noticeDue === true ||
        !rec.enabled ||
        settingsSince(rec, ep) ||
        actionExpired(ep, now, actionWaitHours)
      );
    default:
      return false;
  }
}
