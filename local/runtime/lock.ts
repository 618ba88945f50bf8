import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { StartupError } from './startup.ts';

/**
 * One process at a time on a data directory: the embedded DynamoDB (LevelDB) admits one,
 * and two simulators would overwrite each other's state. A file `lock` names the holder;
 * a lock whose process is gone is taken over.
 */

export const LOCK_FILE = 'lock';

export interface LockHolder {
  pid: number;
  /** For people: what holds it, e.g. `npm start` or `flowpilot backfill`. */
  what: string;
  since: string;
}

/** Raised instead of the store's own failure when another process holds the directory. */
export class DataDirInUseError extends StartupError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the data directory ${dataDir} is in use by process ${holder.pid} (${holder.what}, ` +
        `since ${holder.since.slice(0, 19).replace('T', ' ')} UTC); stop it, or set ` +
        'FLOWPILOT_DATA_DIR to another directory',
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.what === 'string' && typeof h.since === 'string') {
      return { pid: h.pid, what: h.what, since: h.since };
    }
  } catch {
    // unreadable: left by a crash mid-write
  }
  return undefined;
}

export interface DataDirLock {
  release(): void;
}

/**
 * The data directory holds customers' contacts, the ledger and the simulator's token: its
 * owner's only. Folders become 0700 and files 0600, those a former run left behind too, and
 * this process's umask keeps what it creates there (LevelDB's own files included) so.
 */
export function makePrivate(dataDir: string): void {
  process.umask(0o077);
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      if ((stat.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if ((stat.mode & 0o077) !== 0) {
      chmodSync(path, stat.mode & 0o700);
    }
  };
  walk(dataDir);
}

/**
 * Takes the directory's lock or throws DataDirInUseError naming the live holder; the holder
 * makes the directory private (makePrivate).
 */
export function lockDataDir(dataDir: string, what: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, what, since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      makePrivate(dataDir);
      return {
        release() {
          if (readHolder(path)?.pid === process.pid) rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        throw new DataDirInUseError(dataDir, holder);
      }
      if (attempt > 0) throw err;
      // Left by a process that is gone: take it over.
      rmSync(path, { force: true });
    }
  }
}
