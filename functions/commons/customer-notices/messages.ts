import type { NoticeLocale } from '../config/notice-locales.ts';
import { formatGb, mbToGb } from '../units.ts';
import type { NoticeKind } from './store/notice-outbox.ts';

/** What a notice says, before it is worded in a locale. Amounts are decimal MB as text. */
export interface NoticeFacts {
  kind: NoticeKind;
  customerId: string;
  account?: string;
  name?: string;
  /**
   * Absent for auto top-up notices, which are not about the balance, and for a receipt to an
   * address only a payer typed (it tells what they paid for, nothing about the account).
   */
  balanceMb?: string;
  daysLeft?: number | null;
  /** Topped up: the credit's MB. */
  creditMb?: string;
  paymentLink?: string;
  /**
   * A receipt to an address captured from a payment, or the confirmation of an address the
   * customer asked for: the link that confirms it.
   */
  confirmLink?: string;
  /** The customer's own page (a signed link): only to an address bound to the customer. */
  pageLink?: string;
  /** Email changed: the address (masked) that gets the notices from now on. */
  newAddress?: string;
}

export interface RenderedNotice {
  subject: string;
  /** Plain-text email body. */
  email: string;
  sms: string;
}

/** An SMS carries the page link only when this much of the message is left beside it. */
const SMS_MIN_WORDS = 60;

/** SMS length caps: two GSM-7 segments in English, two UCS-2 segments in Chinese. */
export const SMS_MAX = { en: 306, 'zh-CN': 134 } as const satisfies Record<NoticeLocale, number>;

/**
 * A name or account as a message may show it: control and format characters (newlines, bidi
 * overrides) become spaces; anything that reads as a link or an address drops it whole, so a
 * message never carries text someone typed to be followed; at most 40 characters.
 */
export function plainName(value: string | undefined): string | undefined {
  const text = value?.replace(/\p{C}/gu, ' ').replace(/\s+/g, ' ').trim();
  if (!text || /[@/\\:<>]|www\.|\.[a-z]{2,}/i.test(text)) return undefined;
  return [...text].slice(0, 40).join('');
}

/** `{customerId}` in the configured link, URL-encoded. */
export function paymentLinkFor(template: string | undefined, customerId: string) {
  return template?.replaceAll('{customerId}', encodeURIComponent(customerId));
}

const gb = (mb: string | undefined) => formatGb(mbToGb(mb ?? '0'), 2);
// Whole days; 0 means under a day (a running-low balance is above zero), never "about 0 days".
const days = (d: number | null | undefined) =>
  d === null || d === undefined ? undefined : Math.max(0, Math.floor(d));

/** Cut to `max` characters; English ends in ASCII dots, since `…` would force UCS-2. */
function cut(text: string, max: number, locale: NoticeLocale): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const more = locale === 'en' ? '...' : '…';
  return `${chars.slice(0, max - more.length).join('')}${more}`;
}

/** `pay` labels the link when it is not a plain top-up link. */
type Words = (f: NoticeFacts) => { subject: string; lines: string[]; sms: string; pay?: string };

const EN: Record<NoticeKind, Words> = {
  'running-low': (f) => {
    const left = days(f.daysLeft);
    const leftText =
      left === undefined
        ? ''
        : left === 0
          ? ' (less than a day left at your current usage)'
          : ` (about ${left} day${left === 1 ? '' : 's'} left at your current usage)`;
    const leftSms = left === undefined ? '' : left === 0 ? ', under 1 d' : `, about ${left} d`;
    return {
      subject: `Your proxy traffic is running low: ${gb(f.balanceMb)} left`,
      lines: [
        `Your traffic balance is ${gb(f.balanceMb)}${leftText}.`,
        'Top up now so that your proxies keep working.',
      ],
      sms: `Your proxy traffic is running low: ${gb(f.balanceMb)} left${leftSms}. Top up to keep your proxies working.`,
    };
  },
  'used-up': (f) => ({
    subject: 'Your proxy traffic is used up',
    lines: [
      `Your traffic balance is used up (balance ${gb(f.balanceMb)}).`,
      'Your proxies stop working until you top up.',
    ],
    sms: `Your proxy traffic is used up (balance ${gb(f.balanceMb)}). Top up to keep your proxies working.`,
  }),
  'topped-up': (f) => ({
    subject: `Top-up received: +${gb(f.creditMb ?? '0')}`,
    lines: [
      `We added ${gb(f.creditMb ?? '0')} to your account.`,
      ...(f.balanceMb === undefined ? [] : [`Your new balance is ${gb(f.balanceMb)}.`]),
    ],
    sms: `Top-up received: +${gb(f.creditMb ?? '0')}.${f.balanceMb === undefined ? '' : ` New balance ${gb(f.balanceMb)}.`}`,
  }),
  'autotopup-authentication': () => ({
    subject: 'Please confirm your automatic top-up',
    lines: [
      'Your bank asks you to confirm the automatic top-up of your proxy traffic (3-D Secure).',
      'Nothing was charged yet. Confirm the payment once so that your proxies keep working.',
    ],
    sms: 'Your bank asks you to confirm your automatic top-up. Confirm the payment:',
    pay: 'Confirm the payment here:',
  }),
  'autotopup-off': () => ({
    subject: 'Automatic top-up is turned off',
    lines: [
      'Your card was declined several times, so we turned automatic top-up off.',
      'Top up yourself, or update your card and turn automatic top-up on again.',
    ],
    sms: 'Your card was declined several times; automatic top-up is off. Top up here:',
  }),
  'email-confirmation': (f) => ({
    subject: 'Confirm your email address',
    lines: [
      'You asked to receive the notices about your proxy traffic at this address.',
      'Confirm it on your customer page (it opens the page, then asks you to confirm):',
      f.confirmLink ?? '',
      'Until you confirm, notices keep going to the address you had. If you did not ask for this, ignore this message.',
    ],
    sms: '',
  }),
  'email-changed': (f) => ({
    subject: 'Your notices go to another address now',
    lines: [
      `The notices about your proxy traffic, and your page link, now go to ${f.newAddress ?? '-'}, confirmed on your customer page.`,
      'If you did not do this, contact your agent at once: they can set your address back and revoke your page links.',
    ],
    sms: '',
  }),
};

const ZH: Record<NoticeKind, Words> = {
  'running-low': (f) => {
    const left = days(f.daysLeft);
    const leftText =
      left === undefined
        ? ''
        : left === 0
          ? '，按当前用量可使用不足 1 天'
          : `，按当前用量约可使用 ${left} 天`;
    return {
      subject: `您的代理流量余额不足：剩余 ${gb(f.balanceMb)}`,
      lines: [`您的流量余额为 ${gb(f.balanceMb)}${leftText}。`, '请及时充值，以免代理中断。'],
      sms: `您的代理流量余额不足，剩余 ${gb(f.balanceMb)}${leftText}。请及时充值。`,
    };
  },
  'used-up': (f) => ({
    subject: '您的代理流量已用完',
    lines: [`您的流量余额已用完（余额 ${gb(f.balanceMb)}）。`, '充值后代理即可恢复使用。'],
    sms: `您的代理流量已用完（余额 ${gb(f.balanceMb)}），充值后即可恢复使用。`,
  }),
  'topped-up': (f) => ({
    subject: `充值成功：+${gb(f.creditMb ?? '0')}`,
    lines: [
      `已为您的账户充值 ${gb(f.creditMb ?? '0')}。`,
      ...(f.balanceMb === undefined ? [] : [`当前余额为 ${gb(f.balanceMb)}。`]),
    ],
    sms:
      f.balanceMb === undefined
        ? `充值成功：+${gb(f.creditMb ?? '0')}。`
        : `充值成功：+${gb(f.creditMb ?? '0')}，当前余额 ${gb(f.balanceMb)}。`,
  }),
  'autotopup-authentication': () => ({
    subject: '请确认自动充值付款',
    lines: [
      '您的银行要求您确认本次代理流量自动充值（3-D Secure 验证）。',
      '目前尚未扣款。请确认一次付款，以免代理中断。',
    ],
    sms: '您的银行要求确认自动充值付款，请点击确认：',
    pay: '确认付款链接：',
  }),
  'autotopup-off': () => ({
    subject: '自动充值已关闭',
    lines: [
      '您的银行卡多次被拒绝，自动充值已关闭。',
      '请手动充值，或更新银行卡后重新开启自动充值。',
    ],
    sms: '您的银行卡多次被拒绝，自动充值已关闭。充值链接：',
  }),
  'email-confirmation': (f) => ({
    subject: '请确认您的邮箱地址',
    lines: [
      '您申请在此邮箱接收代理流量的相关通知。',
      '请在客户页面确认（打开链接后点击确认）：',
      f.confirmLink ?? '',
      '确认之前，通知仍发送到原来的地址。如果这不是您本人的操作，请忽略此邮件。',
    ],
    sms: '',
  }),
  'email-changed': (f) => ({
    subject: '您的通知已改发到另一个地址',
    lines: [
      `流量相关通知和您的页面链接现在发送到 ${f.newAddress ?? '-'}（已在客户页面确认）。`,
      '如果这不是您本人的操作，请立即联系您的代理商：他们可以改回您的地址并撤销您的页面链接。',
    ],
    sms: '',
  }),
};

const FRAME: Record<
  NoticeLocale,
  {
    hello: (name?: string) => string;
    account: (customerId: string, account?: string) => string;
    pay: string;
    page: string;
    confirm: (link: string) => string[];
    sign: string;
  }
> = {
  en: {
    hello: (name) => `Hello${name ? ` ${name}` : ''},`,
    account: (id, account) => `Customer ${id}${account ? ` (account ${account})` : ''}`,
    pay: 'Top up here:',
    page: 'Your balance, usage and notice settings:',
    confirm: (link) => [
      'To get every notice about this account at this address, not only receipts, confirm it on',
      'your customer page (open your own customer link first):',
      link,
      'If this account is not yours, ignore this link.',
    ],
    sign: 'This is an automatic message about your proxy traffic.',
  },
  'zh-CN': {
    hello: (name) => `${name ? `${name}，` : ''}您好：`,
    account: (id, account) => `客户编号 ${id}${account ? `（账户 ${account}）` : ''}`,
    pay: '充值链接：',
    page: '余额、用量和通知设置：',
    confirm: (link) => [
      '如需在此邮箱接收该账户的全部通知（不仅是充值回执），请先打开您的客户专属链接，再在客户页面确认：',
      link,
      '如果这不是您的账户，请忽略此链接。',
    ],
    sign: '此邮件由系统自动发送，请勿直接回复。',
  },
};

/** The notice's subject, email body and SMS in one locale. */
export function renderNotice(facts: NoticeFacts, locale: NoticeLocale): RenderedNotice {
  const words = (locale === 'zh-CN' ? ZH : EN)[facts.kind](facts);
  const frame = FRAME[locale];
  const link = facts.paymentLink;
  const showLink = link !== undefined && facts.kind !== 'topped-up';
  const confirm = facts.confirmLink && facts.kind !== 'email-confirmation';
  const page = facts.pageLink;
  const email = [
    frame.hello(plainName(facts.name)),
    '',
    ...words.lines,
    ...(showLink ? ['', `${words.pay ?? frame.pay} ${link}`] : []),
    ...(confirm ? ['', ...frame.confirm(facts.confirmLink ?? '')] : []),
    ...(page ? ['', `${frame.page} ${page}`] : []),
    '',
    frame.account(facts.customerId, plainName(facts.account)),
    frame.sign,
    '',
  ].join('\n');
  const text = `${words.sms}${showLink ? ` ${link}` : ''}`;
  // The page link goes whole at the end, or not at all: a cut link opens nothing.
  const room = SMS_MAX[locale] - (page ? page.length + 1 : 0);
  const sms =
    page && room >= SMS_MIN_WORDS
      ? `${cut(text, room, locale)} ${page}`
      : cut(text, SMS_MAX[locale], locale);
  return { subject: words.subject, email, sms };
}
