/**
 * Whether users other than a file's owner could change what the process reads from it: a file
 * writable by every user, or one in a folder every user may write to without the sticky bit
 * (anyone can replace the file). Used for warnings at start about secrets files and driver
 * modules.
 */

import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface OpenToOthers {
  /** The file itself is writable by every user. */
  writable: boolean;
  /** The folder every user may replace the file in, or null. */
  replaceableIn: string | null;
}

/** Null if the file cannot be stat'ed (reading it will say why). */
export function openToOthers(path: string): OpenToOthers | null {
  try {
    const file = resolve(path);
    const writable = (statSync(file).mode & 0o002) !== 0;
    const folder = dirname(file);
    const mode = statSync(folder).mode;
    return { writable, replaceableIn: (mode & 0o002) !== 0 && (mode & 0o1000) === 0 ? folder : null };
  } catch {
    return null;
  }
}
