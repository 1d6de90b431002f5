/**
 * The benchmarks' command lines: node's parseArgs with --help, usage errors that name the
 * option and exit 2 after printing the help, number and list options checked against a range,
 * and progress lines on stderr prefixed with the script's name (stdout carries results).
 */

import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
}

/** The parsed command line, read option by option. */
export interface Args {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** A boolean option: true when given. */
  flag(name: string): boolean;
  /** A string option, or undefined when not given. */
  string(name: string): string | undefined;
  /** A number option within [min, max] (and whole when `integer`), or `fallback` when not given. */
  number(name: string, fallback: number, min: number, max: number, integer?: boolean): number;
  /** A comma-separated option, its non-empty items, or undefined when not given. */
  list(name: string): string[] | undefined;
}

export class Cli {
  /**
   * @param name what progress and error lines start with ("bench: ...")
   * @param help the usage text, printed by --help and after a usage error
   */
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** One progress line on stderr. */
  readonly log = (line: string): void => {
    process.stderr.write(`${this.name}: ${line}\n`);
  };

  /** Prints `message` and the usage text on stderr, and exits with status 2. */
  usageError(message: string): never {
    process.stderr.write(`${this.name}: ${message}\n${this.help}`);
    process.exit(2);
  }

  /**
   * Parses `argv` (no positional arguments). --help prints the usage text on stdout and exits
   * with status 0; an unknown option or a missing value is a usage error.
   */
  parse(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>): Args {
    let values: Record<string, string | boolean | undefined>;
    try {
      values = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', default: false } } }).values;
    } catch (e) {
      this.usageError((e as Error).message);
    }
    if (values.help) {
      process.stdout.write(this.help);
      process.exit(0);
    }
    const usageError = (message: string): never => this.usageError(message);
    return {
      values,
      flag: (name) => values[name] === true,
      string: (name) => (typeof values[name] === 'string' ? values[name] : undefined),
      number(name, fallback, min, max, integer = false) {
        const raw = values[name];
        if (raw === undefined) return fallback;
        const v = Number(raw);
        if (
          typeof raw !== 'string' ||
          raw.trim() === '' ||
          !Number.isFinite(v) ||
          v < min ||
          v > max ||
          (integer && !Number.isInteger(v))
        ) {
          usageError(`--${name}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${String(raw)}"`);
        }
        return v;
      },
      list(name) {
        const raw = values[name];
        if (typeof raw !== 'string') return undefined;
        const items = raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        if (!items.length) usageError(`--${name}: expected a comma-separated list`);
        return items;
      },
    };
  }
}
