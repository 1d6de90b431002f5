/**
 * The TLS 1.2 cipher suites framering offers, the same list for both front ends.
 *
 * Only ECDHE key exchange (forward secrecy: a recorded session cannot be decrypted later with the
 * server's key) with an AEAD cipher (AES-GCM, ChaCha20-Poly1305). Left out: static RSA key
 * exchange (AES128-GCM-SHA256 and the like: no forward secrecy), CBC with HMAC-SHA1 or SHA-2
 * (AES128-SHA: padding-oracle attacks such as Lucky13), DHE (slow, and a client that cannot do
 * ECDHE cannot do it either) and anything older. Every browser since about 2016, curl, ffmpeg,
 * VLC and OpenCV offer at least one of these. TLS 1.3 suites are all AEAD with ephemeral key
 * exchange by design and are not in this list: uWebSockets.js (BoringSSL) does not let them be
 * configured, and node:https takes them separately. TLS 1.0 and 1.1 are refused by both.
 *
 * The order is Mozilla's "intermediate" configuration (AES-128-GCM, AES-256-GCM, then ChaCha20
 * for CPUs without AES instructions). It decides only where the server's order wins (node:https
 * with `honorCipherOrder`); uWebSockets.js follows the client's order among these suites (see
 * src/server/uws/front-end.ts), which is harmless since every one of them is strong.
 */

/** TLS 1.2 suites, OpenSSL names (BoringSSL, inside uWebSockets.js, takes the same names). */
export const TLS12_CIPHERS: string = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
