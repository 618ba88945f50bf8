import type { LineItem, StandInCheckoutSession } from './objects.ts';

/**
 * The stand-in's hosted Checkout page (what a session's `url` opens): the items and total, a
 * choice of Stripe test cards, Pay and a link back to `cancel_url`. A plain form, so it works
 * without scripts and a test can drive it with one POST.
 */

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const money = (minor: number, currency: string) =>
  `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;

export const PAGE_CARDS: readonly [id: string, label: string][] = [
  ['pm_card_visa', 'Visa 4242 (succeeds)'],
  ['pm_card_mastercard', 'Mastercard 4444 (succeeds)'],
  ['pm_card_chargeDeclined', 'Visa 0002 (declined)'],
  ['pm_card_chargeDeclinedInsufficientFunds', 'Visa 9995 (insufficient funds)'],
];

export function checkoutPage(
  session: StandInCheckoutSession,
  items: readonly LineItem[],
  error?: string,
): string {
  const rows = items
    .map(
      (li) =>
        `<tr><td>${escapeHtml(li.name)}${li.quantity > 1 ? ` × ${li.quantity}` : ''}</td><td>${money(li.unitAmount * li.quantity, li.currency)}</td></tr>`,
    )
    .join('');
  const total =
    session.amount_total !== null && session.currency
      ? `<p>Total <strong>${money(session.amount_total, session.currency)}</strong></p>`
      : '<p>Save a card for later payments.</p>';
  const cards = PAGE_CARDS.map(
    ([id, label], i) =>
      `<label><input type="radio" name="payment_method" value="${id}"${i === 0 ? ' checked' : ''}> ${escapeHtml(label)}</label><br>`,
  ).join('');
  const cancel = session.cancel_url
    ? `<p><a href="${escapeHtml(session.cancel_url)}">Cancel and go back</a></p>`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stripe stand-in Checkout</title></head><body>
<h1>Checkout (Stripe stand-in, test mode)</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<table>${rows}</table>${total}
<form method="post"><fieldset><legend>Test card</legend>${cards}</fieldset>
<label>Email <input type="email" name="email" value="${escapeHtml(typeof session.customer_email === 'string' ? session.customer_email : 'customer@example.com')}"></label>
<button type="submit">${session.mode === 'setup' ? 'Save card' : 'Pay'}</button></form>${cancel}
</body></html>`;
}

export function closedPage(message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stripe stand-in Checkout</title></head><body><h1>${escapeHtml(message)}</h1></body></html>`;
}
