import { PublishCommand, type PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { sesClientFor } from '../../functions/commons/clients/ses.ts';
import type { CustomersConfig } from '../../functions/commons/config/customers.ts';
import {
  CustomerNotices,
  type CustomerNoticesDeps,
} from '../../functions/commons/customer-notices/listener.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { NoticeStateStore } from '../../functions/commons/customer-notices/store/customer-notice-state.ts';
import { NoticeOutboxStore } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { noticeChannels } from '../../functions/commons/customer-notices/wiring.ts';
import { type SesStandIn, startSesStandIn } from '../../local/ses/stand-in.ts';
import type { TestTable } from './dynamo.ts';

export interface NoticesOnTable {
  contacts: CustomerContactStore;
  state: NoticeStateStore;
  outbox: NoticeOutboxStore;
  listener: CustomerNotices;
}

/** The customer notices over a test table's contact, notice state and outbox stores. */
export function customerNotices(
  table: TestTable,
  customers: CustomersConfig,
  deps: Omit<CustomerNoticesDeps, 'config' | 'paymentLinkUrl' | 'contacts' | 'state' | 'outbox'>,
): NoticesOnTable {
  const contacts = new CustomerContactStore(table.doc, table.tableName);
  const state = new NoticeStateStore(table.doc, table.tableName);
  const outbox = new NoticeOutboxStore(table.doc, table.tableName);
  const listener = new CustomerNotices({
    config: customers.notices,
    paymentLinkUrl: customers.paymentLinkUrl,
    contacts,
    state,
    outbox,
    ...deps,
  });
  return { contacts, state, outbox, listener };
}

/** What a transactional SMS of `message` to `phone` asks SNS to publish. */
export function transactionalSms(phone: string, message: string): PublishCommandInput {
  return {
    PhoneNumber: phone,
    Message: message,
    MessageAttributes: {
      'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
    },
  };
}

export interface AwsNoticeChannels {
  /** The SES stand-in (valid inside tests, after beforeAll). */
  readonly ses: SesStandIn;
  /** Email through the SES stand-in, SMS through the mocked SNS, as `customers` enables them. */
  channels(customers: CustomersConfig): Pick<CustomerNoticesDeps, 'email' | 'sms'>;
  /** What each SMS sent so far asked SNS to publish. */
  smsSent(): PublishCommandInput[];
}

/**
 * The deployed delivery, per test file: an SES stand-in started in beforeAll and the SNS client
 * mocked (Publish answers a message id); both emptied after each test.
 */
export function useAwsNoticeChannels(): AwsNoticeChannels {
  const sns = mockClient(SNSClient);
  let ses: SesStandIn | undefined;
  beforeAll(async () => {
    ses = await startSesStandIn({ verifiedIdentities: ['notices.example.com'] });
  });
  afterAll(async () => {
    await ses?.close();
  });
  beforeEach(() => {
    sns.on(PublishCommand).resolves({ MessageId: 'sms-1' });
  });
  afterEach(() => {
    sns.reset();
    ses?.reset();
  });
  const fixture: AwsNoticeChannels = {
    get ses() {
      if (!ses) throw new Error('the SES stand-in starts in beforeAll; use it inside a test');
      return ses;
    },
    channels: (customers) =>
      noticeChannels(customers, 'aws', {
        ses: sesClientFor({ AWS_ENDPOINT_URL_SES: fixture.ses.url }),
        sns: new SNSClient({ region: 'us-east-1' }),
      }),
    smsSent: () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input),
  };
  return fixture;
}
