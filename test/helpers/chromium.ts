import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium for the customer page tests; says how to get it when it is missing. */
export function launchChromium(args: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is required at ${CHROMIUM} for this test: apt-get install chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', ...args],
  });
}

/** The customer page link `npm start`'s banner prints. */
export const bannerLinkOf = (output: string): string =>
  /(http:\/\/\S+\/portal\/open\?token=\S+)/.exec(output)?.[1] ?? '';
