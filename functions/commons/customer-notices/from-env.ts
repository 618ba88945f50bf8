import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SNSClient } from '@aws-sdk/client-sns';
import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { sesClient } from '../clients/ses.ts';
import { snsClient } from '../clients/sns.ts';
import type { CustomersConfig } from '../config/customers.ts';
import { getStringFromEnv } from '../env.ts';
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

let built: CustomerNotices | undefined;

/** The listener as a function builds it, once per container: its table, clients and config. */
export function customerNoticesFromEnv(): CustomerNotices {
  if (built) return built;
  const config = getConfig().customers;
  const tableName = getStringFromEnv(TABLE_NAME_ENV);
  const autoTopup = new AutoTopupStore(docClient, tableName);
  built = new CustomerNotices({
    config: config.notices,
    paymentLinkUrl: config.paymentLinkUrl,
    contacts: new CustomerContactStore(docClient, tableName),
    state: new NoticeStateStore(docClient, tableName),
    outbox: new NoticeOutboxStore(docClient, tableName),
    ...noticeChannels(config, noticeDelivery()),
    confirmLink: confirmLinks(config.notices.confirmContactUrl),
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
