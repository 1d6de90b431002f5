/**
 * A minimal leveled logger: one line per event on stderr, stdout stays free for data.
 *
 * Every line is made safe here, the one place all lines pass: messages carry text that came from
 * outside (an upstream camera's headers and status line, a tool's stderr, a request's path), and
 * a control character in it could end the line early and forge the next one (a CR or LF), or
 * drive the terminal that shows the log (ESC[2J clears the screen, an OSC sequence retitles it,
 * C1's CSI 0x9B does what ESC[ does). So C0 and C1 controls, DEL and ESC are written as \xNN;
 * the only raw control byte in the output is the newline that ends the line.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * The least severe level this logger writes, if it filters (createLogger's do). Threads that
   * forward lines to this logger read it so as not to post lines it would drop.
   */
  readonly level?: LogLevel | undefined;
}

/** True if a logger at `min` writes a line at `level` (undefined `min`: it writes everything). */
export function logLevelEnabled(min: LogLevel | undefined, level: LogLevel): boolean {
  return min === undefined || order[level] >= order[min];
}

// C0 (0x00-0x1F, ESC 0x1B among them), DEL (0x7F) and C1 (0x80-0x9F): latin1-decoded header
// values put C1 bytes in exactly this range.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's purpose
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const CONTROLS = new RegExp(CONTROL.source, 'g');
const hex = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** `text` with every control character written as \xNN (see the file comment). */
export function escapeControls(text: string): string {
  // Most lines have none: test first, so they are not copied.
  return CONTROL.test(text) ? text.replace(CONTROLS, hex) : text;
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, message: string): void => {
    if (order[lvl] >= min) write(`${new Date().toISOString()} ${lvl.padEnd(5)} ${escapeControls(message)}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    level,
  };
}

export const LOG_LEVELS = Object.keys(order) as LogLevel[];

// --- Credentials in messages ----------------------------------------------------------------

/** Query parameters that cameras use for credentials (Foscam's `pwd`, tokens, API keys). */
export const SECRET_PARAM = /pass|pwd|token|key|auth|secret|sig|session|cred/i;

/**
 * One value given by the user (a `--source` URL, a `--camera` spec) with the user info of the URL
 * in it and password-like query values masked: `http://user:pw@host/x?pwd=1` becomes
 * `http://***@host/x?pwd=***`. For values that may not parse as a URL, so it masks from the
 * scheme to the LAST `@` of the value: a password may hold `@`, `/`, `:`, `,` or a space
 * unescaped (often why it did not parse), and masking up to the first `@` showed the rest of it.
 */
export function maskCredentials(value: string): string {
  const masked = value.replace(/([a-z][a-z0-9+.-]*:\/\/).*@/is, (_m, scheme: string) => `${scheme}***@`);
  // A value runs to the next '&' or '#': in a --camera spec that may swallow the options after
  // it, which only hides more; stopping at a ',' showed the rest of a password holding one.
  return masked.replace(/([?&])([^=&#]*)=([^&#]*)/g, (m, sep: string, name: string) => (SECRET_PARAM.test(name) ? `${sep}${name}=***` : m));
}

/** maskCredentials for one URL as a user wrote it, which may not parse: without a scheme (`user:pw@host/x`), everything up to the last '@' is user info. */
export function maskUrl(value: string): string {
  return maskCredentials(value.includes('://') ? value : value.replace(/^.*@/s, '***@'));
}
