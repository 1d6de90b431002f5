/**
 * `framering sign`: prints a signed, expiring link to a camera's stream or snapshot, for an
 * <img src> or a dashboard that cannot send credentials (signed-links.ts checks it).
 *
 *   framering sign --url-secret-file FILE --camera front --ttl 1h
 *   /cameras/front/video_feed?exp=1796563200&sig=...
 *
 * Exit status 0 with the link on stdout, 2 with one line on stderr for a bad option.
 */

import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { signLink } from '../server/signed-links.js';
import { readUrlSecretFile } from './option-parsers.js';

const HELP = `Usage: framering sign --url-secret-file FILE [--camera NAME] [--snapshot] [--ttl DURATION | --expires TIME] [--fps N] [--base URL]

Prints a link to a camera's stream (or, with --snapshot, its snapshot) that the server accepts
without credentials until it expires, signed with the first key of FILE (the server's
--url-secret-file; FRAMERING_URL_SECRET_FILE also works).

  --camera NAME      the camera's own path, /cameras/NAME/...; without it /video_feed (the first camera)
  --snapshot         a link to the snapshot instead of the stream
  --ttl DURATION     valid for this long: 90s, 30m, 12h, 7d (default 1h)
  --expires TIME     valid until this time instead (ISO 8601, e.g. 2027-01-01T00:00:00Z)
  --fps N            a rate cap the link's holder cannot raise
  --base URL         put this in front of the path, e.g. https://cam.example.org
`;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest validity: a link is a bearer credential; a year is more than any dashboard needs. */
const MAX_TTL_MS = 366 * UNITS.d!;

function ttl(raw: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(s|m|h|d)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  if (!(ms >= 1000 && ms <= MAX_TTL_MS))
    throw new ConfigError(`invalid --ttl "${raw}": expected a duration from 1s to 366d, like 90s, 30m, 12h, 7d`);
  return ms;
}

/** The link, or throws ConfigError naming the option at fault. */
export function signCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, now = Date.now()): string | { help: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        'url-secret-file': { type: 'string' },
        camera: { type: 'string' },
        snapshot: { type: 'boolean' },
        ttl: { type: 'string' },
        expires: { type: 'string' },
        fps: { type: 'string' },
        base: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!);
  }
  if (values.help) return { help: HELP };
  const file = (values['url-secret-file'] as string | undefined) ?? (env.FRAMERING_URL_SECRET_FILE || undefined);
  if (file === undefined) throw new ConfigError('missing --url-secret-file FILE: the key file the server reads');
  const key = readUrlSecretFile(file)[0]!;

  const camera = values.camera as string | undefined;
  if (camera !== undefined && camera.trim() === '') throw new ConfigError('invalid --camera "": expected a camera name');
  const what = values.snapshot ? 'snapshot' : 'video_feed';
  const path = camera === undefined ? `/${what}` : `/cameras/${encodeURIComponent(camera)}/${what}`;

  if (values.ttl !== undefined && values.expires !== undefined) throw new ConfigError('--ttl and --expires: give one of them');
  let expiresAt: number;
  if (values.expires !== undefined) {
    const raw = values.expires as string;
    expiresAt = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(raw) ? Date.parse(raw) : NaN;
    if (Number.isNaN(expiresAt)) throw new ConfigError(`invalid --expires "${raw}": expected an ISO 8601 time, like 2027-01-01T00:00:00Z`);
    if (expiresAt <= now) throw new ConfigError(`invalid --expires "${raw}": that time has passed`);
    if (expiresAt - now > MAX_TTL_MS) throw new ConfigError(`invalid --expires "${raw}": at most 366 days from now`);
  } else expiresAt = now + ttl((values.ttl as string | undefined) ?? '1h');

  let fps: number | undefined;
  if (values.fps !== undefined) {
    const raw = values.fps as string;
    fps = /^[0-9]*\.?[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!(fps > 0 && fps <= 1000)) throw new ConfigError(`invalid --fps "${raw}": expected a number more than 0 and at most 1000`);
  }

  let base = '';
  if (values.base !== undefined) {
    const raw = values.base as string;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(`invalid --base "${raw}": expected a URL like https://cam.example.org`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`invalid --base "${raw}": expected http:// or https://`);
    if (url.search || url.hash) throw new ConfigError(`invalid --base "${raw}": no query or fragment`);
    base = raw.replace(/\/+$/, '');
  }
  return `${base}${path}?${signLink(key, path, expiresAt, fps)}`;
}

export function runSign(argv: readonly string[]): number {
  try {
    const out = signCommand(argv);
    if (typeof out === 'string') process.stdout.write(`${out}\n`);
    else process.stdout.write(out.help);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`framering sign: ${err.message}\n`);
    return 2;
  }
}
