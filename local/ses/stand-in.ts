import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One email as SES v2 `SendEmail` received it (simple content only). */
export interface ReceivedEmail {
  messageId: string;
  from: string;
  to: string[];
  replyTo: string[];
  subject: string;
  subjectCharset: string | undefined;
  text: string;
  tags: Record<string, string>;
  /** `Content.Simple.Headers` by name, as given (`List-Unsubscribe`…). */
  headers: Record<string, string>;
  /** The service named in the SigV4 credential scope (`ses` for SES v2). */
  signedFor: string | undefined;
}

export interface SesStandIn {
  /** For `AWS_ENDPOINT_URL_SES` or an SESv2Client's `endpoint`. */
  readonly url: string;
  readonly sent: ReceivedEmail[];
  /** The next `count` requests fail with this HTTP status and SES error type. */
  failNext(count: number, status: number, type: string): void;
  /** Forgets what was sent and any failures still to come. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A stand-in for Amazon SES v2 that speaks its REST protocol for `SendEmail`
 * (`POST /v2/email/outbound-emails`, JSON both ways, errors as `x-amzn-ErrorType` plus
 * `{"message"}`), so the real SDK client is exercised. Like SES it refuses a sender that is
 * not a verified identity (an address, or its domain) and a request without a recipient.
 */
export async function startSesStandIn(
  opts: { verifiedIdentities?: readonly string[]; port?: number } = {},
): Promise<SesStandIn> {
  const verified = new Set((opts.verifiedIdentities ?? []).map((i) => i.toLowerCase()));
  const sent: ReceivedEmail[] = [];
  let failures: { count: number; status: number; type: string } | undefined;

  const error = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ message }));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v2/email/outbound-emails') {
      return error(res, 404, 'NotFoundException', `no route ${req.method} ${req.url}`);
    }
    if (failures && failures.count > 0) {
      failures.count--;
      return error(res, failures.status, failures.type, 'injected failure');
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return error(res, 400, 'BadRequestException', 'body is not JSON');
    }
    const from = String(input.FromEmailAddress ?? '');
    const address = (/<([^>]+)>\s*$/.exec(from)?.[1] ?? from).trim().toLowerCase();
    const domain = address.slice(address.lastIndexOf('@') + 1);
    if (!address || (!verified.has(address) && !verified.has(domain))) {
      return error(
        res,
        400,
        'MessageRejected',
        `Email address is not verified. The following identities failed the check in region US-EAST-1: ${address}`,
      );
    }
    const dest = (input.Destination ?? {}) as { ToAddresses?: string[] };
    const simple = ((input.Content ?? {}) as { Simple?: Record<string, unknown> }).Simple;
    if (!dest.ToAddresses?.length || !simple) {
      return error(res, 400, 'BadRequestException', 'Destination and Content.Simple are required');
    }
    const subject = simple.Subject as { Data?: string; Charset?: string } | undefined;
    const textBody = (simple.Body as { Text?: { Data?: string } } | undefined)?.Text?.Data;
    const headers = (simple.Headers as { Name?: string; Value?: string }[] | undefined) ?? [];
    // SES refuses a header whose name or value is not printable ASCII (or a name with a colon).
    if (
      headers.some(
        (h) =>
          !/^[\x21-\x39\x3b-\x7e]{1,126}$/.test(h.Name ?? '') ||
          !/^[\x20-\x7e]{1,870}$/.test(h.Value ?? ''),
      )
    ) {
      return error(res, 400, 'BadRequestException', 'invalid message header');
    }
    const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(
      req.headers.authorization ?? '',
    )?.[1];
    const email: ReceivedEmail = {
      messageId: `0100${randomUUID().replaceAll('-', '')}-000000`,
      from,
      to: dest.ToAddresses,
      replyTo: (input.ReplyToAddresses as string[] | undefined) ?? [],
      subject: subject?.Data ?? '',
      subjectCharset: subject?.Charset,
      text: textBody ?? '',
      tags: Object.fromEntries(
        ((input.EmailTags as { Name: string; Value: string }[] | undefined) ?? []).map((t) => [
          t.Name,
          t.Value,
        ]),
      ),
      headers: Object.fromEntries(headers.map((h) => [h.Name ?? '', h.Value ?? ''])),
      signedFor: scope,
    };
    sent.push(email);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ MessageId: email.messageId }));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    failNext(count, status, type) {
      failures = { count, status, type };
    },
    reset() {
      sent.length = 0;
      failures = undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
