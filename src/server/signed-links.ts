/**
 * Signed, expiring links to a camera's stream or snapshot, for places that cannot send
 * credentials: an <img src> on a dashboard, a kiosk, Home Assistant's MJPEG camera.
 *
 * A link is its path plus `exp` (Unix seconds), optionally `fps` (a rate cap the holder cannot
 * raise) and `sig`: HMAC-SHA256 over a canonical string of those values, in base64url. The
 * server holds one or more keys (a secret file, one per line): the first signs, every one
 * verifies, so a new key can be put first while links made with the old one still work until
 * they expire. Signatures are compared in constant time against every key, and a failure says
 * which kind it was (expired, another camera, altered or another key, malformed), never which
 * byte differed.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Query parameters a signed link carries; any other makes it invalid (it would be unsigned).
 * `r` is a nonce the page adds so that two links made in the same second differ (a browser does
 * not reload an <img> whose src did not change).
 */
const SIGNED = new Set(['exp', 'fps', 'r', 'sig']);
const SIG_BYTES = 32;
/** Keys shorter than this are refused: a link's forgery resistance is the key's entropy. */
export const MIN_KEY_BYTES = 16;

export interface LinkGrant {
  /** When the link stops working, ms since the epoch. */
  expiresAt: number;
  /** The rate cap the link carries, 0 for none. */
  maxFps: number;
}

export type LinkCheck = { ok: true; grant: LinkGrant } | { ok: false; reason: string };

const message = (path: string, exp: string, fps: string, r: string): string =>
  `framering-link-v1\n${path}\n${exp}\n${fps}${r === '' ? '' : `\n${r}`}`;

const mac = (key: string, text: string): Buffer => createHmac('sha256', key).update(text, 'utf8').digest();

/** Whether a query string asks to be checked as a signed link (it has `sig`). */
export const hasSignature = (query: string): boolean => /(?:^|&)sig=/.test(query);

/**
 * The query string of a link to `path` valid until `expiresAt` (ms since the epoch, rounded up
 * to a second), capped at `maxFps` frames per second if given.
 */
export function signLink(key: string, path: string, expiresAt: number, maxFps?: number, nonce = ''): string {
  const exp = String(Math.ceil(expiresAt / 1000));
  const fps = maxFps === undefined ? '' : String(maxFps);
  if (!/^[A-Za-z0-9_-]*$/.test(nonce)) throw new Error('a link nonce is letters, digits, - and _');
  const sig = mac(key, message(path, exp, fps, nonce)).toString('base64url');
  return `exp=${exp}${fps ? `&fps=${fps}` : ''}${nonce ? `&r=${nonce}` : ''}&sig=${sig}`;
}

export class LinkVerifier {
  constructor(
    private readonly keys: readonly string[],
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Checks a signed request for `path`. `otherPaths` are the same route of the server's other
   * cameras: a link that verifies for one of them is reported as being for another camera.
   */
  check(path: string, query: string, otherPaths: readonly string[] = []): LinkCheck {
    const params = new URLSearchParams(query);
    for (const name of new Set(params.keys())) {
      if (!SIGNED.has(name)) return { ok: false, reason: `unsigned parameter ${JSON.stringify(name)} in a signed link` };
      if (params.getAll(name).length > 1) return { ok: false, reason: `parameter ${name} given twice in a signed link` };
    }
    const exp = params.get('exp');
    const fps = params.get('fps') ?? '';
    const sig = params.get('sig') ?? '';
    const r = params.get('r') ?? '';
    if (exp === null || !/^[0-9]{1,12}$/.test(exp)) return { ok: false, reason: 'malformed link: exp is missing or not Unix seconds' };
    if (fps !== '' && !/^[0-9]*\.?[0-9]+$/.test(fps)) return { ok: false, reason: 'malformed link: fps is not a number' };
    const given = /^[A-Za-z0-9_-]{43}$/.test(sig) ? Buffer.from(sig, 'base64url') : null;
    if (given === null || given.length !== SIG_BYTES) return { ok: false, reason: 'malformed link: sig is not a signature' };
    if (!this.verifies(path, exp, fps, r, given)) {
      const elsewhere = otherPaths.some((p) => p !== path && this.verifies(p, exp, fps, r, given));
      return {
        ok: false,
        reason: elsewhere ? 'the link is for another camera' : 'the signature does not match (another key, or the link was altered)',
      };
    }
    const expiresAt = Number(exp) * 1000;
    if (this.now() >= expiresAt) return { ok: false, reason: `the link expired at ${new Date(expiresAt).toISOString()}` };
    const maxFps = fps === '' ? 0 : Number(fps);
    if (!(maxFps >= 0 && maxFps <= 1000)) return { ok: false, reason: 'malformed link: fps out of range' };
    return { ok: true, grant: { expiresAt, maxFps } };
  }

  private verifies(path: string, exp: string, fps: string, r: string, given: Buffer): boolean {
    const text = message(path, exp, fps, r);
    let ok = false;
    // Every key, no early exit: timing does not tell which key matched, or whether one did.
    for (const key of this.keys) ok = timingSafeEqual(mac(key, text), given) || ok;
    return ok;
  }
}
