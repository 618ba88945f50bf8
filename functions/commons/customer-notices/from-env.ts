import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SNSClient } from '@aws-sdk/client-sns';
import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { sesClient } from '../clients/ses.ts';
import { snsClient } from '../clients/sns.ts';
import type { CustomersConfig } from '../config/customers.ts';
import { getOptionalStringFromEnv, getStringFromEnv } from '../env.ts';
import { noticeLinks, portalUrl } from '../portal/links.ts';
import { PortalStore } from '../portal/store.ts';
import { portalKeys } from '../portal/tokens.ts';
import { getSecret, requireSecret } from '../secrets.ts';
import { AutoTopupStore } from '../store/autotopup.ts';
import { CustomerContactStore } from '../store/customer-contacts.ts';
import { NoticeStateStore } from '../store/customer-notice-state.ts';
import { NoticeOutboxStore } from '../store/notice-outbox.ts';
import { TABLE_NAME_ENV } from '../store/table.ts';
import { PrintChannel, SesEmailChannel, SnsSmsChannel } from './channels.ts';
import { type ConfirmedContact, confirmContact, confirmLinkFor } from './confirm.ts';
import { type NoticeDelivery, noticeDelivery } from './delivery.ts';
import { CustomerNotices, type CustomerNoticesDeps } from './listener.ts';

/** The channels a delivery mode gives, given the configuration; tests hand in clients. */
export function noticeChannels(
  config: CustomersConfig,
  delivery: NoticeDelivery,
  o: { ses?: SESv2Client; sns?: SNSClient; write?: (text: string) => void } = {},
): Pick<CustomerNoticesDeps, 'email' | 'sms'> {
  const { email, sms } = config.notices;
  if (delivery === 'print') {
    const printer = new PrintChannel(o.write);
    return { email: printer, ...(sms.enabled ? { sms: printer } : {}) };
  }
  return {
    ...(email
      ? {
          email: new SesEmailChannel({
            client: o.ses ?? sesClient,
            from: email.from,
            ...(email.fromName ? { fromName: email.fromName } : {}),
            ...(email.replyTo ? { replyTo: email.replyTo } : {}),
          }),
        }
      : {}),
    ...(sms.enabled
      ? {
          sms: new SnsSmsChannel({
            client: o.sns ?? snsClient,
            ...(sms.senderId ? { senderId: sms.senderId } : {}),
          }),
        }
      : {}),
  };
}

/**
 * The link a receipt to a captured email carries, signed with PORTAL_SECRET; none without a
 * `confirmContactUrl` or the secret (the address then stays receipts-only).
 */
export function confirmLinks(
  template: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): CustomerNoticesDeps['confirmLink'] {
  if (!template) return undefined;
  return async (customerId, email, now) => {
    const secret = await getSecret('PORTAL_SECRET', env);
    return secret ? confirmLinkFor(template, secret, customerId, email, now) : undefined;
  };
}

/** The API's URL, set by the stack (and the local runtime) where `portal.baseUrl` is absent. */
export const PORTAL_BASE_URL_ENV = 'PORTAL_BASE_URL';

/**
 * Page links and one-click unsubscribe for every notice, signed with PORTAL_SECRET; none
 * without a base URL (the notice then goes without them).
 */
export function pageLinks(
  store: PortalStore,
  baseUrl: string | undefined,
  days: number,
  env: NodeJS.ProcessEnv = process.env,
): CustomerNoticesDeps['links'] {
  if (!baseUrl) return undefined;
  return noticeLinks({
    store,
    keys: async () => portalKeys(await getSecret('PORTAL_SECRET', env), env.PORTAL_SECRET_PREVIOUS),
    baseUrl,
    days,
  });
}

let built: CustomerNotices | undefined;

/** The listener as a function builds it, once per container: its table, clients and config. */
export function customerNoticesFromEnv(): CustomerNotices {
  if (built) return built;
  const { customers: config, portal } = getConfig();
  const tableName = getStringFromEnv(TABLE_NAME_ENV);
  const base = portal.baseUrl ?? getOptionalStringFromEnv(PORTAL_BASE_URL_ENV);
  const autoTopup = new AutoTopupStore(docClient, tableName);
  built = new CustomerNotices({
    config: config.notices,
    paymentLinkUrl: config.paymentLinkUrl,
    contacts: new CustomerContactStore(docClient, tableName),
    state: new NoticeStateStore(docClient, tableName),
    outbox: new NoticeOutboxStore(docClient, tableName),
    ...noticeChannels(config, noticeDelivery()),
    // The page's own confirmation route unless another address is configured.
    confirmLink: confirmLinks(
      config.notices.confirmContactUrl ??
        (base ? portalUrl(base, 'confirm?token={token}') : undefined),
    ),
    links: pageLinks(new PortalStore(docClient, tableName), base, portal.linkDays),
    chargedAutomatically: (ids) => autoTopup.chargedAutomatically(ids),
  });
  return built;
}

/**
 * For the customer page's confirmation route, behind the customer's session:
 * `confirm(token, sessionCustomerId)` binds the captured email the token names, or throws
 * ContactConfirmError (statusCode 400/410, message fit to show).
 */
export function contactConfirmationFromEnv(): (
  token: string,
  sessionCustomerId: string,
) => Promise<ConfirmedContact> {
  const contacts = new CustomerContactStore(docClient, getStringFromEnv(TABLE_NAME_ENV));
  const secret = () => requireSecret('PORTAL_SECRET');
  return (token, sessionCustomerId) =>
    confirmContact(token, sessionCustomerId, { contacts, secret });
}
