import { createSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandIn {
  readonly endpoint: string;
  close(): Promise<void>;
}

async function listen(
  handle: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
}

const closer = (server: Server) => () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

export interface SnsStandIn extends StandIn {
  /** Every Publish received, as its form fields. */
  readonly published: URLSearchParams[];
}

/** SNS over its Query protocol: records each Publish and answers as SNS does. */
export async function startSnsStandIn(): Promise<SnsStandIn> {
  const published: URLSearchParams[] = [];
  let n = 0;
  const { server, endpoint } = await listen((_req, body, res) => {
    const form = new URLSearchParams(body);
    if (form.get('Action') !== 'Publish') {
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not supported here: ${form.get('Action')}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
      );
      return;
    }
    published.push(form);
    n += 1;
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-${n}</MessageId></PublishResult><ResponseMetadata><RequestId>r-${n}</RequestId></ResponseMetadata></PublishResponse>`,
    );
  });
  return { endpoint, published, close: closer(server) };
}

export interface SecretsManagerStandIn extends StandIn {
  /** SecretIds asked for, in order. */
  readonly requested: string[];
}

/**
 * Secrets Manager's `GetSecretValue` over its JSON 1.1 protocol. Each secret answers to its
 * ARN and its name, as the real service does; anything else is ResourceNotFoundException.
 */
export async function startSecretsManagerStandIn(
  secrets: { arn: string; name: string; value: string }[],
): Promise<SecretsManagerStandIn> {
  const requested: string[] = [];
  const { server, endpoint } = await listen((req, body, res) => {
    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      json(400, { __type: 'InvalidRequestException', message: 'only GetSecretValue here' });
      return;
    }
    const { SecretId } = JSON.parse(body) as { SecretId?: string };
    requested.push(String(SecretId));
    const secret = secrets.find((s) => s.arn === SecretId || s.name === SecretId);
    if (!secret) {
      json(400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
      return;
    }
    json(200, {
      ARN: secret.arn,
      Name: secret.name,
      SecretString: secret.value,
      VersionId: '00000000-0000-0000-0000-000000000001',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_700_000_000,
    });
  });
  return { endpoint, requested, close: closer(server) };
}

/** One segment document as the X-Ray daemon receives it (the JSON after the header line). */
export interface XraySegment {
  name: string;
  id: string;
  trace_id: string;
  parent_id?: string;
  namespace?: string;
  annotations?: Record<string, unknown>;
  aws?: { operation?: string };
  fault?: boolean;
}

export interface XrayDaemonStandIn {
  /** `AWS_XRAY_DAEMON_ADDRESS` for the function. */
  readonly address: string;
  readonly received: XraySegment[];
  close(): Promise<void>;
}

/** The X-Ray daemon's UDP side: `{"format":"json","version":1}\n<segment>` per datagram. */
export async function startXrayDaemonStandIn(): Promise<XrayDaemonStandIn> {
  const socket = createSocket('udp4');
  const received: XraySegment[] = [];
  socket.on('message', (msg) => {
    const [header, body] = msg.toString('utf8').split('\n');
    if (header === '{"format":"json","version":1}' && body) {
      received.push(JSON.parse(body) as XraySegment);
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
