import type { AlertMessage, Notifier } from './types.ts';

/** Local runtime without a topic: prints each alert as a readable block. */
export class ConsoleNotifier implements Notifier {
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void = (text) => process.stdout.write(text)) {
    this.#write = write;
  }

  async publish(message: AlertMessage): Promise<void> {
    const { severity, rule, pool, kind } = message.attributes;
    const bar = '='.repeat(72);
    this.#write(
      [
        bar,
        `ALERT ${kind} | severity=${severity} rule=${rule} pool=${pool}`,
        `Subject: ${message.subject}`,
        `SMS:     ${message.sms}`,
        '',
        message.email,
        bar,
        '',
      ].join('\n'),
    );
  }
}
