import { issueLink } from '../../../functions/commons/portal/links.ts';
import { portalKeys } from '../../../functions/commons/portal/tokens.ts';
import { getSecret } from '../../../functions/commons/secrets.ts';
import { LOCAL_DEV_SECRETS } from '../../runtime/env.ts';
import { printJson } from '../command.ts';
import { dataDirOf, readRuntimeInfo } from '../connection.ts';
import type { CommandContext } from '../context.ts';
import { CliError, EXIT, type ExitCode } from '../errors.ts';
import { shortTime } from '../format.ts';

export interface LinkArgs {
  customerId: string;
  days: number | undefined;
  revoke: boolean;
}

/**
 * The key and base URL links are made with. The key: PORTAL_SECRET (or its Secrets Manager
 * ARN in PORTAL_SECRET_SECRET_ARN); with a running `npm start` on the simulator, which signs
 * with the public development key, that key. The base URL: `portal.baseUrl`, else the
 * running local runtime's address.
 */
async function signingSetup(ctx: CommandContext) {
  const info = readRuntimeInfo(dataDirOf(ctx.io.env, ctx.io.cwd));
  const simulator = info?.upstreamToken !== undefined;
  const secret =
    (await getSecret('PORTAL_SECRET', ctx.io.env)) ??
    (simulator ? LOCAL_DEV_SECRETS.PORTAL_SECRET : undefined);
  if (!secret) {
    throw new CliError(
      'PORTAL_SECRET is not set: set it (or PORTAL_SECRET_SECRET_ARN) to the key the portal function uses',
    );
  }
  const baseUrl = ctx.config.portal.baseUrl ?? info?.httpUrl;
  if (!baseUrl) {
    throw new CliError(
      'no address for the customer page: set portal.baseUrl in the configuration (the stack prints PortalBaseUrl), or run npm start',
    );
  }
  return { keys: portalKeys(secret), baseUrl };
}

/**
 * `flowpilot customer link <id> [--days N] [--revoke]`: prints a link; `--revoke` first
 * bumps the link version (every earlier link and session stops working) and prints a new
 * link only when `--days` is given too.
 */
export async function runLink(args: LinkArgs, ctx: CommandContext): Promise<ExitCode> {
  const { portal } = ctx.stores;
  const now = ctx.clock();
  const revoked = args.revoke ? await portal.revoke(args.customerId, now) : undefined;
  if (revoked !== undefined && !ctx.json) {
    ctx.io.stdout.write(
      `customer ${args.customerId}: every earlier link and open session is revoked (link version ${revoked})\n`,
    );
  }
  if (revoked !== undefined && args.days === undefined) {
    if (ctx.json) printJson(ctx, { customerId: args.customerId, revoked: true, version: revoked });
    return EXIT.ok;
  }
  const { keys, baseUrl } = await signingSetup(ctx);
  const link = await issueLink({
    store: portal,
    keys,
    baseUrl,
    customerId: args.customerId,
    days: args.days ?? ctx.config.portal.linkDays,
    now,
  });
  if (ctx.json) {
    printJson(ctx, {
      customerId: args.customerId,
      url: link.url,
      expires: link.expires.toISOString(),
      version: link.version,
      ...(revoked !== undefined ? { revoked: true } : {}),
    });
    return EXIT.ok;
  }
  ctx.io.stdout.write(`${link.url}\n`);
  ctx.io.stderr.write(
    `customer ${args.customerId}'s page, valid until ${shortTime(link.expires.toISOString())}; revoke with flowpilot customer link ${args.customerId} --revoke\n`,
  );
  return EXIT.ok;
}
