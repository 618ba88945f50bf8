import { createHash } from 'node:crypto';
import type { PackageConfig } from '../config/payments.ts';
import type { ConfirmShown } from '../customer-notices/confirm.ts';
import { money } from '../money.ts';
import { type Decimal, formatGb } from '../units.ts';
import { type PortalLocale, WORDS, type Words } from './i18n.ts';
import type { PortalView } from './view.ts';

/** Text for HTML: every value that reaches the page passes here (or is a number we made). */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
main{max-width:760px;margin:0 auto;padding:16px}
header{display:flex;justify-content:space-between;align-items:center;gap:8px;flex-wrap:wrap}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;margin:12px 0}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:4px 0 8px}
.big{font-size:32px;font-weight:600}.muted{color:#4b5563}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #f3f4f6}
td.num,th.num{text-align:right}svg{max-width:100%;height:auto}
form.inline{display:inline}button{font:inherit;padding:4px 12px}
.flash{background:#ecfdf5;border-color:#a7f3d0}`;

/** The stylesheet's hash: the CSP allows this one inline style and nothing else. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

export interface Page {
  locale: PortalLocale;
  title: string;
  body: string;
}

export function document(p: Page): string {
  return `<!doctype html><html lang="${p.locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${esc(p.title)}</title><style>${STYLE}</style></head><body><main>${p.body}</main></body></html>`;
}

/** A page that says one thing (403, 404, 429, signed out), in the visitor's language. */
export function messagePage(locale: PortalLocale, title: string, text: string): string {
  return document({
    locale,
    title,
    body: `<h1>${esc(title)}</h1><p>${esc(text)}</p>`,
  });
}

/** The one-click unsubscribe page: a button that POSTs, nothing done on GET. */
export function unsubscribePage(locale: PortalLocale, action: string): string {
  const w = WORDS[locale];
  return document({
    locale,
    title: w.unsubscribeTitle,
    body: `<h1>${esc(w.unsubscribeTitle)}</h1><p>${esc(w.unsubscribeText)}</p><form method="post" action="${esc(action)}"><button type="submit" name="List-Unsubscribe" value="One-Click">${esc(w.unsubscribeButton)}</button></form>`,
  });
}

/** "Open customer N's page": a button that POSTs the link's token, so no other site logs anyone in. */
export function openPage(
  locale: PortalLocale,
  customerId: string,
  token: string,
  account: string | undefined,
): string {
  const w = WORDS[locale];
  const title = w.openTitle.replace('{id}', customerId);
  const named = account ? `<p>${esc(w.openAccount.replace('{account}', account))}</p>` : '';
  return document({
    locale,
    title,
    body: `<h1>${esc(title)}</h1><p>${esc(w.openText.replace('{id}', customerId))}</p>${named}<form method="post" action="/portal/open"><input type="hidden" name="token" value="${esc(token)}"><button type="submit">${esc(w.openButton)}</button></form>`,
  });
}

const W = 640;
const H = 200;
const PAD = { left: 44, right: 8, top: 16, bottom: 24 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Daily usage as an inline SVG bar chart: no script, no request. */
export function usageChart(title: string, days: PortalView['usage']): string {
  const max = niceMax(Math.max(0, ...days.map((d) => d.gb)));
  const plotH = H - PAD.top - PAD.bottom;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, days.length);
  const grid = [0, 0.5, 1]
    .map((f) => {
      const y = PAD.top + (1 - f) * plotH;
      const label = (max * f).toLocaleString('en-US', { maximumFractionDigits: 2 });
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" stroke="#e5e7eb"/><text x="${PAD.left - 4}" y="${y + 4}" text-anchor="end" font-size="11" fill="#4b5563">${label}</text>`;
    })
    .join('');
  const bars = days
    .map((d, i) => {
      const h = (d.gb / max) * plotH;
      const x = PAD.left + i * slot + slot * 0.15;
      return `<rect class="bar" data-day="${esc(d.day)}" data-gb="${d.gb}" x="${x.toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="#2563eb"><title>${esc(d.day)}: ${esc(formatGb(d.gb, 2))}</title></rect>`;
    })
    .join('');
  const first = days[0]?.day ?? '';
  const last = days[days.length - 1]?.day ?? '';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${grid}${bars}<text x="${PAD.left}" y="${H - 6}" font-size="11" fill="#4b5563">${esc(first)}</text><text x="${W - PAD.right}" y="${H - 6}" font-size="11" text-anchor="end" fill="#4b5563">${esc(last)}</text></svg>`;
}

/** An instant in the customer's zone and language. */
export function timeIn(iso: string, zone: string, locale: PortalLocale): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(d);
}

const gb = (v: Decimal | number) => formatGb(v, 2);

export interface PageInput {
  view: PortalView;
  locale: PortalLocale;
  /** The session's CSRF token, put in every form. */
  csrf: string;
  catalog: Readonly<Record<string, PackageConfig>>;
  /** Buy forms are shown only when FlowPilot can create Checkout Sessions. */
  canBuy: boolean;
  flash?: string;
  /** The agent's limit on automatic charges per month. */
  maxPerMonth: number;
  /** Zones offered in the settings form (the current one is always among them). */
  zones: readonly string[];
  /** The email form is shown only when FlowPilot can send the confirmation link. */
  canChangeEmail: boolean;
}

function hidden(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${esc(csrf)}">`;
}

function balanceSection(w: Words, p: PageInput): string {
  const b = p.view.balance;
  if (!b) return `<section id="balance"><h2>${esc(w.balance)}</h2><p class="big">–</p></section>`;
  const figure = b.calibrated
    ? `<p class="big" data-balance-gb="${esc(b.gb.toFixed())}">${esc(gb(b.gb))}</p>`
    : `<p class="big" data-balance="not-calibrated">${esc(w.notCalibrated)}</p><p class="muted">${esc(w.notCalibratedHint)}</p>`;
  const days =
    b.daysLeft === null || !b.calibrated
      ? esc(w.daysLeftUnknown)
      : esc(w.days(b.daysLeft.toFixed(1)));
  const burn = b.burnGb ? ` · ${esc(w.burn(gb(b.burnGb)))}` : '';
  return `<section id="balance"><h2>${esc(w.balance)}</h2>${figure}<p><strong>${esc(w.daysLeft)}:</strong> <span id="days-left">${days}</span>${burn}</p><p class="muted">${esc(w.asOf(timeIn(b.asOf, p.view.timeZone, p.locale)))}</p></section>`;
}

function historySection(w: Words, p: PageInput): string {
  const { history, historyMore, timeZone } = p.view;
  const rows = history
    .map(
      (h) =>
        `<tr><td>${esc(timeIn(h.at, timeZone, p.locale))}</td><td>${esc(h.kind === 'top-up' ? w.topUp : w.deduction)}</td><td class="num">${h.kind === 'top-up' ? '+' : '−'}${esc(gb(h.gb))}</td><td><code>${esc(h.receipt)}</code></td></tr>`,
    )
    .join('');
  const table = history.length
    ? `<table><thead><tr><th>${esc(w.when)}</th><th>${esc(w.kind)}</th><th class="num">${esc(w.amount)}</th><th>${esc(w.receipt)}</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p>${esc(w.historyEmpty)}</p>`;
  const more = historyMore ? `<p class="muted">${esc(w.historyMore)}</p>` : '';
  return `<section id="history"><h2>${esc(w.history)}</h2>${table}${more}</section>`;
}

function packageLabel(p: PageInput, id: string, quantity = 1): string {
  const pkg = Object.hasOwn(p.catalog, id) ? p.catalog[id] : undefined;
  if (!pkg) return id;
  const total = Number(pkg.gb) * quantity;
  return `${formatGb(total, 2)} · ${money(pkg.price * quantity, pkg.currency)}`;
}

function autoTopupSection(w: Words, p: PageInput): string {
  const a = p.view.autoTopup;
  let text: string;
  if (!a?.enabled) text = `<p id="autotopup-state">${esc(w.autoOff)}</p>`;
  else {
    const main =
      w.autoOn(packageLabel(p, a.packageId, a.quantity), gb(Number(a.belowGb))) +
      (a.orDaysLeft !== undefined ? w.autoOrDays(a.orDaysLeft) : '');
    const parts = [
      `${main}.`,
      a.maxPerMonth !== undefined ? w.autoMax(a.maxPerMonth) : '',
      a.card ? w.autoCard : w.autoNoCard,
      a.underWay ? w.autoEpisode : '',
    ].filter(Boolean);
    text = `<p id="autotopup-state">${parts.map(esc).join(' ')}</p>`;
  }
  return `<section id="autotopup"><h2>${esc(w.autoTopup)}</h2>${text}${a?.card ? autoTopupForm(w, p, a) : p.canBuy ? saveCardForm(w, p, a) : ''}</section>`;
}

function packageOptions(p: PageInput, selected: string | undefined): string {
  return Object.keys(p.catalog)
    .map(
      (id) =>
        `<option value="${esc(id)}"${id === selected ? ' selected' : ''}>${esc(packageLabel(p, id))}</option>`,
    )
    .join('');
}

/**
 * Turning auto top-up on without a saved card: the POST opens a `mode=setup` Checkout that
 * saves one, and the webhook turns auto top-up on with this package and threshold.
 */
function saveCardForm(w: Words, p: PageInput, a: PortalView['autoTopup']): string {
  if (!Object.keys(p.catalog).length) return '';
  const below = `<input type="number" name="belowGb" min="1" max="1000000" step="1" value="${esc(a?.belowGb ?? '10')}" size="5">`;
  return `<form method="post" action="/portal/autotopup" id="autotopup-setup">${hidden(p.csrf)}<input type="hidden" name="enabled" value="on"><p><label>${esc(w.autoPackage)} <select name="package">${packageOptions(p, a?.packageId)}</select></label></p><p><label>${esc(w.autoBelow)} ${below}</label></p><p class="muted">${esc(w.autoSaveCardHint)}</p><p><button type="submit">${esc(w.autoSaveCard)}</button></p></form>`;
}

/** Changes to auto top-up, offered once a card is saved for the customer. */
function autoTopupForm(w: Words, p: PageInput, a: NonNullable<PortalView['autoTopup']>): string {
  const packages = packageOptions(p, a.packageId);
  const num = (name: string, value: string | number | undefined, min: number, max: number) =>
    `<input type="number" name="${name}" min="${min}" max="${max}" step="1" value="${esc(String(value ?? ''))}" size="5">`;
  return `<form method="post" action="/portal/autotopup">${hidden(p.csrf)}<p><label><input type="checkbox" name="enabled" value="on"${a.enabled ? ' checked' : ''}> ${esc(w.autoOnLabel)}</label></p><p><label>${esc(w.autoPackage)} <select name="package">${packages}</select></label></p><p><label>${esc(w.autoBelow)} ${num('belowGb', a.belowGb, 1, 1_000_000)}</label></p><p><label>${esc(w.autoDays)} ${num('orDaysLeft', a.orDaysLeft, 0, 365)}</label></p><p><label>${esc(w.autoMaxLabel)} ${num('maxPerMonth', a.maxPerMonth ?? p.maxPerMonth, 1, p.maxPerMonth)}</label></p><p><button type="submit">${esc(w.save)}</button></p></form>`;
}

function noticesSection(w: Words, p: PageInput): string {
  const n = p.view.notices;
  const box = (name: string, on: boolean, label: string) =>
    `<p><label><input type="checkbox" name="${name}" value="on"${on ? ' checked' : ''}> ${esc(label)}</label></p>`;
  const settings = `<form method="post" action="/portal/notices">${hidden(p.csrf)}<fieldset><legend>${esc(w.reminders)}</legend>${box('email', n.reminders.email, w.emailReminders)}${box('sms', n.reminders.sms, w.smsReminders)}</fieldset><p class="muted">${esc(w.receiptsAlways)}</p><p><button type="submit">${esc(w.save)}</button></p></form>`;
  const pending = n.pending ? `<p id="email-pending">${esc(w.emailPending(n.pending))}</p>` : '';
  const change = p.canChangeEmail
    ? `<h3>${esc(w.changeEmail)}</h3>${pending}<form method="post" action="/portal/email">${hidden(p.csrf)}<p><label>${esc(w.newEmail)} <input type="email" name="email" autocomplete="email" required maxlength="254"></label> <button type="submit">${esc(w.sendLink)}</button></p></form>`
    : '';
  return `<section id="notices"><h2>${esc(w.notices)}</h2><p>${esc(w.email)}: ${esc(n.email ?? w.none)} · ${esc(w.phone)}: ${esc(n.phone ?? w.none)}</p>${settings}${change}</section>`;
}

/** Confirm an address: a same-origin POST with the session's CSRF token, never a GET. */
export function confirmPage(
  locale: PortalLocale,
  token: string,
  csrf: string,
  shown: ConfirmShown,
): string {
  const w = WORDS[locale];
  const day = shown.at?.slice(0, 10) ?? '-';
  const from =
    shown.source === 'payment'
      ? w.confirmFromPayment(shown.order ?? '-', day)
      : shown.source === 'page'
        ? w.confirmFromPage(day)
        : w.confirmFromBound;
  // A captured address is typed in full: nobody can make the customer type the payer's.
  const typed =
    shown.source === 'payment'
      ? `<p>${esc(w.confirmTypeIt)}</p><p><label>${esc(w.confirmTyped)} <input type="email" name="email" required autocomplete="off"></label></p>`
      : '';
  return document({
    locale,
    title: w.confirmTitle,
    body: `<h1>${esc(w.confirmTitle)}</h1><p>${esc(w.confirmText)} <strong>${esc(shown.email)}</strong></p><p>${esc(from)}</p><form method="post" action="/portal/confirm">${hidden(csrf)}<input type="hidden" name="token" value="${esc(token)}">${typed}<button type="submit">${esc(w.confirmButton)}</button></form>`,
  });
}

function buySection(w: Words, p: PageInput): string {
  if (!p.canBuy) return '';
  const ids = Object.keys(p.catalog);
  if (!ids.length) return '';
  const forms = ids
    .map(
      (id) =>
        `<form method="post" action="/portal/buy" class="buy"><input type="hidden" name="package" value="${esc(id)}">${hidden(p.csrf)}<p><strong>${esc(packageLabel(p, id))}</strong> <button type="submit">${esc(w.buyButton)}</button></p><p><label><input type="checkbox" name="auto" value="on"> ${esc(w.buyAuto)}</label>, <label>${esc(w.buyBelow)} <input type="number" name="belowGb" min="1" step="1" value="10" size="5"></label></p></form>`,
    )
    .join('');
  return `<section id="buy"><h2>${esc(w.buy)}</h2>${forms}</section>`;
}

function settingsSection(w: Words, p: PageInput): string {
  const options = p.zones
    .map(
      (z) =>
        `<option value="${esc(z)}"${z === p.view.timeZone ? ' selected' : ''}>${esc(z)}</option>`,
    )
    .join('');
  return `<section id="settings"><form method="post" action="/portal/zone">${hidden(p.csrf)}<label>${esc(w.timeZone)} <select name="zone">${options}</select></label> <button type="submit">${esc(w.save)}</button></form></section>`;
}

export function portalPage(p: PageInput): string {
  const w = WORDS[p.locale];
  const other: PortalLocale = p.locale === 'en' ? 'zh-CN' : 'en';
  const who = p.view.account ? `${p.view.customerId} (${p.view.account})` : p.view.customerId;
  const header = `<header><h1>${esc(w.title)}</h1><nav><a href="/portal/lang/${other}" hreflang="${other}" lang="${other}">${esc(w.language)}</a> <form method="post" action="/portal/logout" class="inline">${hidden(p.csrf)}<button type="submit">${esc(w.signOut)}</button></form></nav></header><p class="muted">${esc(w.customer)} <span id="customer">${esc(who)}</span></p>`;
  const flash = p.flash
    ? `<section class="flash" role="status"><p>${esc(p.flash)}</p></section>`
    : '';
  const usage = `<section id="usage"><h2>${esc(w.usage30)}</h2>${usageChart(w.usageChart, p.view.usage)}</section>`;
  return document({
    locale: p.locale,
    title: w.title,
    body:
      header +
      flash +
      balanceSection(w, p) +
      usage +
      buySection(w, p) +
      historySection(w, p) +
      autoTopupSection(w, p) +
      noticesSection(w, p) +
      settingsSection(w, p),
  });
}
