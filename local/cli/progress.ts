import type { OutputStream } from './context.ts';

/**
 * A progress bar on a terminal (redrawn in place), plain lines otherwise, so that logs and
 * pipes get one readable line per step instead of carriage returns.
 */
export class Progress {
  readonly #out: OutputStream;
  readonly #label: string;
  #drawn = false;

  constructor(out: OutputStream, label: string) {
    this.#out = out;
    this.#label = label;
  }

  update(done: number, total: number, detail: string): void {
    if (!this.#out.isTTY) {
      this.#out.write(`${this.#label}: ${done}/${total} ${detail}\n`);
      return;
    }
    const columns = this.#out.columns ?? 80;
    const text = ` ${done}/${total} ${detail}`;
    const width = Math.max(10, Math.min(40, columns - this.#label.length - text.length - 4));
    const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    // \x1b[K clears what a longer previous line left behind.
    this.#out.write(`\r${this.#label} ${bar}${text}\x1b[K`);
    this.#drawn = true;
  }

  /** Ends the bar's line (a terminal needs the newline; plain output already has it). */
  done(): void {
    if (this.#drawn) this.#out.write('\n');
    this.#drawn = false;
  }
}
