import { FlowPilotError } from '../errors.ts';
import { LISTENER_NAMES } from './listeners.ts';
import type { BalanceChange, BalanceListener } from './types.ts';

/**
 * How poll-customers hands its balance changes to customer-actions (customer notices, auto
 * top-up), which runs in a function of its own so the poll carries neither SES, Stripe nor
 * the notice templates. In AWS the changes travel through an SNS topic; the local runtime
 * delivers the same messages to the same handler in process.
 */

/** Environment variable naming the topic poll-customers publishes to. */
export const BALANCE_CHANGES_TOPIC_ENV = 'BALANCE_CHANGES_TOPIC_ARN';

/** Format of the message body; a reader refuses any other. */
export const BALANCE_CHANGES_VERSION = 1;

/**
 * SNS takes 256 KiB per message, attributes included; a change is under 1 KB, so a few
 * hundred go in each message and a large run is split into several.
 */
export const MAX_MESSAGE_BYTES = 240 * 1024;

/** One message: a run's changes, or one part of them. */
export interface BalanceChangesMessage {
  version: typeof BALANCE_CHANGES_VERSION;
  /** When poll-customers computed the changes (ISO 8601); ties a message to its run. */
  at: string;
  /** This message's place among the run's messages, from 1, and how many there are. */
  part: number;
  parts: number;
  changes: BalanceChange[];
}

/** A message that is not a balance-changes message of this version. */
export class BalanceChangesMessageError extends FlowPilotError {
  override name = 'BalanceChangesMessageError';
}

/**
 * The run's changes as message bodies, in order, each at most MAX_MESSAGE_BYTES. A run with
 * no changes still gives one (empty) message: customer-actions also delivers the notices that
 * were waiting for their time (quiet hours, retries) on each run.
 */
export function balanceChangeMessages(changes: readonly BalanceChange[], at: string): string[] {
  const chunks: BalanceChange[][] = [[]];
  // Everything but the changes, with room for part numbers of any size.
  const envelope = JSON.stringify({ version: 1, at, part: 1e6, parts: 1e6, changes: [] }).length;
  let bytes = envelope;
  for (const c of changes) {
    const size = Buffer.byteLength(JSON.stringify(c)) + 1;
    if (envelope + size > MAX_MESSAGE_BYTES) {
      throw new BalanceChangesMessageError(
        `the change of customer ${c.after.customerId} takes ${size} bytes, more than a message holds`,
      );
    }
    const current = chunks[chunks.length - 1] as BalanceChange[];
    if (bytes + size > MAX_MESSAGE_BYTES && current.length > 0) {
      chunks.push([c]);
      bytes = envelope + size;
    } else {
      current.push(c);
      bytes += size;
    }
  }
  return chunks.map((part, i) =>
    JSON.stringify({
      version: BALANCE_CHANGES_VERSION,
      at,
      part: i + 1,
      parts: chunks.length,
      changes: part,
    } satisfies BalanceChangesMessage),
  );
}

/**
 * The poll's one listener: sends each message of the run's changes with `send` (an SNS
 * Publish in AWS), in order. A failed send fails the listener, which the poll reports.
 */
export class BalanceChangesHandoff implements BalanceListener {
  readonly name = LISTENER_NAMES.handoff;
  readonly #send: (body: string) => Promise<void>;
  readonly #clock: () => Date;

  constructor(send: (body: string) => Promise<void>, clock: () => Date = () => new Date()) {
    this.#send = send;
    this.#clock = clock;
  }

  async onBalances(changes: readonly BalanceChange[]): Promise<void> {
    for (const body of balanceChangeMessages(changes, this.#clock().toISOString())) {
      await this.#send(body);
    }
  }
}
