/** A minimal leveled logger: one line per event on stderr, stdout stays free for data. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, message: string): void => {
    if (order[lvl] >= min) write(`${new Date().toISOString()} ${lvl.padEnd(5)} ${message}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}

export const LOG_LEVELS = Object.keys(order) as LogLevel[];
