/**
 * Errors with a stable `code`, so callers and tests can tell them apart without parsing text.
 * Messages are one line and name what was wrong.
 */

export class FrameringError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FrameringError';
    this.code = code;
  }
}

/** An invalid option or configuration value. The CLI prints the message and exits with 2. */
export class ConfigError extends FrameringError {
  constructor(message: string) {
    super('ERR_FRAMERING_CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** Something the process needs is not available here (a native binary, a driver's module). */
export class UnavailableError extends FrameringError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_FRAMERING_UNAVAILABLE', message, options);
    this.name = 'UnavailableError';
  }
}

/** A one-line description of anything thrown (some native bindings throw plain strings). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return (err.message || err.name).split('\n')[0]!;
  return String(err).split('\n')[0]!;
}
