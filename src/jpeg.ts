/** Minimal JPEG checks: enough to refuse a file that is not a whole JPEG image. */

/** True if `bytes` starts with the SOI marker (FF D8 FF) and ends with EOI (FF D9). */
export function isCompleteJpeg(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff && bytes[n - 2] === 0xff && bytes[n - 1] === 0xd9;
}
