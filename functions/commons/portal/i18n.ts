/** The page's two languages; the notices' locales, so a customer reads both alike. */
export const PORTAL_LOCALES = ['en', 'zh-CN'] as const;
export type PortalLocale = (typeof PORTAL_LOCALES)[number];

export function isPortalLocale(value: unknown): value is PortalLocale {
  return (PORTAL_LOCALES as readonly unknown[]).includes(value);
}

/**
 * The first language of `Accept-Language` (by q) that the page speaks: any `zh` tag reads as
 * Simplified Chinese, any `en` as English; undefined when none.
 */
export function localeFromAcceptLanguage(header: string | undefined): PortalLocale | undefined {
  if (!header) return undefined;
  const tags = header
    .split(',')
    .slice(0, 20)
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag: tag.toLowerCase(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((t) => t.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag } of tags) {
    if (tag === 'zh' || tag.startsWith('zh-')) return 'zh-CN';
    if (tag === 'en' || tag.startsWith('en-')) return 'en';
  }
  return undefined;
}

export interface Words {
  title: string;
  customer: string;
  balance: string;
  notCalibrated: string;
  notCalibratedHint: string;
  daysLeft: string;
  daysLeftUnknown: string;
  days: (n: string) => string;
  burn: (gb: string) => string;
  asOf: (when: string) => string;
  usage30: string;
  usageChart: string;
  history: string;
  historyEmpty: string;
  historyMore: string;
  when: string;
  kind: string;
  amount: string;
  topUp: string;
  deduction: string;
  receipt: string;
  autoTopup: string;
  autoOn: (pkg: string, below: string) => string;
  autoOrDays: (n: number) => string;
  autoMax: (n: number) => string;
  autoCard: string;
  autoNoCard: string;
  autoOff: string;
  autoEpisode: string;
  notices: string;
  email: string;
  phone: string;
  none: string;
  timeZone: string;
  save: string;
  language: string;
  signOut: string;
  signedOut: string;
  forbiddenTitle: string;
  forbidden: string;
  notFound: string;
  tooMany: string;
  error: string;
  buy: string;
  buyButton: string;
  buyAuto: string;
  buyBelow: string;
  buyCanceled: string;
  buyDone: string;
  /** `{id}` is the customer id. */
  openTitle: string;
  openText: string;
  openAccount: string;
  openButton: string;
  unsubscribeTitle: string;
  unsubscribeText: string;
  unsubscribeButton: string;
  unsubscribed: string;
  noticeChannels: string;
  reminders: string;
  autoInvalid: string;
  autoOnLabel: string;
  autoPackage: string;
  autoBelow: string;
  autoDays: string;
  autoMaxLabel: string;
  autoSaveCard: string;
  autoSaveCardHint: string;
  emailReminders: string;
  smsReminders: string;
  receiptsAlways: string;
  changeEmail: string;
  newEmail: string;
  sendLink: string;
  emailPending: (masked: string) => string;
  emailSent: string;
  emailInvalid: string;
  confirmTitle: string;
  confirmText: string;
  confirmButton: string;
  confirmFromPayment: (order: string, day: string) => string;
  confirmFromPage: (day: string) => string;
  confirmFromBound: string;
  confirmTypeIt: string;
  confirmTyped: string;
  confirmMismatch: string;
  confirmDone: (masked: string) => string;
  confirmRefused: string;
  confirmExpired: string;
  confirmSignIn: string;
  settings: string;
}

const en: Words = {
  title: 'Your traffic',
  customer: 'Customer',
  balance: 'Balance',
  notCalibrated: 'Balance not available yet',
  notCalibratedHint:
    'Your opening balance is being set up; it shows here once your agent confirms it.',
  daysLeft: 'Days left',
  daysLeftUnknown: 'not enough usage to tell',
  days: (n) => `${n} days at your current use`,
  burn: (gb) => `about ${gb} a day`,
  asOf: (when) => `as of ${when}`,
  usage30: 'Usage, last 30 days',
  usageChart: 'Traffic used per day over the last 30 days, in GB',
  history: 'Top-ups and deductions, last 12 months',
  historyEmpty: 'None in the last 12 months.',
  historyMore: 'Older entries are not shown.',
  when: 'When',
  kind: 'Kind',
  amount: 'Traffic',
  topUp: 'Top-up',
  deduction: 'Deduction',
  receipt: 'Receipt',
  autoTopup: 'Automatic top-up',
  autoOn: (pkg, below) => `On: ${pkg} when the balance falls below ${below}`,
  autoOrDays: (n) => `, or when ${n} days are left`,
  autoMax: (n) => `At most ${n} a month.`,
  autoCard: 'A card is saved for it.',
  autoNoCard: 'No card is saved yet.',
  autoOff: 'Off',
  autoEpisode: 'A top-up is under way.',
  notices: 'Notices',
  email: 'Email',
  phone: 'SMS',
  none: 'none',
  timeZone: 'Time zone',
  save: 'Save',
  language: '中文',
  signOut: 'Sign out',
  signedOut: 'You are signed out. Open your link again to come back.',
  forbiddenTitle: 'Link not valid',
  forbidden: 'This link cannot be used. Ask your agent for a new one.',
  notFound: 'There is no such page.',
  tooMany: 'Too many requests. Please wait a minute.',
  error: 'Something went wrong. Please try again later.',
  buy: 'Buy traffic',
  buyButton: 'Buy',
  buyAuto: 'Top up automatically with this package',
  buyBelow: 'when the balance falls below (GB)',
  buyCanceled: 'The payment was canceled.',
  buyDone: 'Thank you: the traffic is credited once the payment is confirmed.',
  openTitle: "Open customer {id}'s page",
  openText: 'This link opens the page of customer {id}. Continue only if that is you.',
  openAccount: 'Account: {account}',
  openButton: 'Open the page',
  unsubscribeTitle: 'Unsubscribe',
  unsubscribeText: 'Stop reminders about your traffic? Receipts are still sent.',
  unsubscribeButton: 'Unsubscribe from reminders',
  unsubscribed: 'You will no longer receive reminders.',
  noticeChannels: 'Channels',
  reminders: 'Reminders',
  autoInvalid: 'These settings cannot be used. Check the values and try again.',
  autoOnLabel: 'Top up automatically',
  autoPackage: 'Package',
  autoBelow: 'when the balance falls below (GB)',
  autoDays: 'or when this many days are left',
  autoMaxLabel: 'at most, per month',
  autoSaveCard: 'Save a card and turn on',
  autoSaveCardHint: 'Stripe saves your card for it; nothing is charged now.',
  emailReminders: 'Email reminders (running low, used up)',
  smsReminders: 'SMS reminders (running low, used up)',
  receiptsAlways: 'Receipts of your top-ups are always sent.',
  changeEmail: 'Change email address',
  newEmail: 'New email address',
  sendLink: 'Send confirmation link',
  emailPending: (masked) => `Waiting for confirmation: ${masked}`,
  emailSent:
    'We sent a confirmation link to the new address. Notices keep going to the current one until you confirm.',
  emailInvalid: 'This address cannot be used. Check it and try again.',
  confirmTitle: 'Confirm your email address',
  confirmText: 'Use this address for the notices about your traffic:',
  confirmButton: 'Confirm the address',
  confirmFromPayment: (order, day) =>
    `It was typed at checkout by whoever paid order ${order} on ${day} (UTC). Anyone may pay for your account and type any address.`,
  confirmFromPage: (day) => `It was asked for on your page on ${day} (UTC).`,
  confirmFromBound: 'It already gets your notices.',
  confirmTypeIt:
    'If this is your own address, type it in full. If you do not know it, do not confirm: every notice and your page link would go to it.',
  confirmTyped: 'Your address:',
  confirmMismatch: 'The address you typed is not the one this link confirms. Nothing changed.',
  confirmDone: (masked) => `Done: notices now go to ${masked}.`,
  confirmRefused: 'This confirmation link cannot be used.',
  confirmExpired: 'This confirmation link has expired. Ask for a new one on your page.',
  confirmSignIn:
    'Open your customer page with your own link first, then open this confirmation link again.',
  settings: 'Settings',
};

const zhCN: Words = {
  title: '我的流量',
  customer: '客户',
  balance: '余额',
  notCalibrated: '余额暂不可用',
  notCalibratedHint: '您的期初余额正在设置中，代理商确认后即可显示。',
  daysLeft: '剩余天数',
  daysLeftUnknown: '用量不足，暂无法估算',
  days: (n) => `按当前用量约 ${n} 天`,
  burn: (gb) => `每天约 ${gb}`,
  asOf: (when) => `截至 ${when}`,
  usage30: '近 30 天用量',
  usageChart: '近 30 天每日使用流量（GB）',
  history: '近 12 个月充值与扣除',
  historyEmpty: '近 12 个月没有记录。',
  historyMore: '更早的记录未显示。',
  when: '时间',
  kind: '类型',
  amount: '流量',
  topUp: '充值',
  deduction: '扣除',
  receipt: '凭证',
  autoTopup: '自动充值',
  autoOn: (pkg, below) => `已开启：余额低于 ${below} 时购买 ${pkg}`,
  autoOrDays: (n) => `，或剩余 ${n} 天时`,
  autoMax: (n) => `每月最多 ${n} 次。`,
  autoCard: '已保存银行卡。',
  autoNoCard: '尚未保存银行卡。',
  autoOff: '未开启',
  autoEpisode: '一笔充值正在进行中。',
  notices: '通知',
  email: '邮箱',
  phone: '短信',
  none: '无',
  timeZone: '时区',
  save: '保存',
  language: 'English',
  signOut: '退出',
  signedOut: '您已退出。再次打开您的链接即可返回。',
  forbiddenTitle: '链接无效',
  forbidden: '此链接无法使用，请向代理商索取新链接。',
  notFound: '页面不存在。',
  tooMany: '请求过多，请稍后再试。',
  error: '出错了，请稍后再试。',
  buy: '购买流量',
  buyButton: '购买',
  buyAuto: '以此套餐自动充值',
  buyBelow: '余额低于（GB）时',
  buyCanceled: '支付已取消。',
  buyDone: '谢谢：支付确认后流量即到账。',
  openTitle: '打开客户 {id} 的页面',
  openText: '此链接打开客户 {id} 的页面。仅当这是您本人时继续。',
  openAccount: '账户：{account}',
  openButton: '打开页面',
  unsubscribeTitle: '退订',
  unsubscribeText: '不再接收流量提醒？充值凭证仍会发送。',
  unsubscribeButton: '退订提醒',
  unsubscribed: '您将不再收到提醒。',
  noticeChannels: '渠道',
  reminders: '提醒',
  autoInvalid: '设置无效，请检查后重试。',
  autoOnLabel: '自动充值',
  autoPackage: '套餐',
  autoBelow: '余额低于（GB）时',
  autoDays: '或剩余天数为',
  autoMaxLabel: '每月最多次数',
  autoSaveCard: '保存银行卡并开启',
  autoSaveCardHint: '由 Stripe 保存您的银行卡，现在不扣款。',
  emailReminders: '邮件提醒（余额不足、已用完）',
  smsReminders: '短信提醒（余额不足、已用完）',
  receiptsAlways: '充值凭证始终发送。',
  changeEmail: '更改邮箱地址',
  newEmail: '新邮箱地址',
  sendLink: '发送确认链接',
  emailPending: (masked) => `等待确认：${masked}`,
  emailSent: '确认链接已发送到新地址。确认之前，通知仍发送到当前地址。',
  emailInvalid: '此地址无法使用，请检查后重试。',
  confirmTitle: '确认您的邮箱地址',
  confirmText: '将此地址用于接收流量相关通知：',
  confirmButton: '确认地址',
  confirmFromPayment: (order, day) =>
    `此地址由订单 ${order} 的付款人于 ${day}（UTC）在付款页填写。任何人都可以为您的账户付款并填写任意地址。`,
  confirmFromPage: (day) => `此地址于 ${day}（UTC）在您的页面上申请。`,
  confirmFromBound: '此地址已在接收您的通知。',
  confirmTypeIt:
    '如果这是您本人的地址，请完整输入。如果您不认识此地址，请勿确认：所有通知和您的页面链接都会发送到该地址。',
  confirmTyped: '您的地址：',
  confirmMismatch: '您输入的地址与此链接要确认的地址不一致，未作任何更改。',
  confirmDone: (masked) => `完成：通知将发送到 ${masked}。`,
  confirmRefused: '此确认链接无法使用。',
  confirmExpired: '此确认链接已过期，请在您的页面重新申请。',
  confirmSignIn: '请先用您的专属链接打开客户页面，然后再打开此确认链接。',
  settings: '设置',
};

export const WORDS: Record<PortalLocale, Words> = { en, 'zh-CN': zhCN };
