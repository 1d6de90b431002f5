/**
 * Which requests the uWebSockets.js front end refuses for how they frame a body.
 *
 * Why: uWebSockets.js 20.30 reads framing leniently. With `Content-Length: 0` and then
 * `Content-Length: 33` it takes the first and parses the 33 bytes after the head as a second
 * request; it accepts `Transfer-Encoding: chunked, identity` and two Transfer-Encoding headers.
 * A proxy in front that reads them the other way (the last Content-Length, or the body as
 * chunked) forwards those bytes as a body, and framering runs them as a request the proxy never
 * saw: request smuggling (RFC 9112 6.3, 11.2). node:http (llhttp) refuses them with a 400.
 *
 * framering has no route that takes a body: every route is GET or HEAD, plus OPTIONS for CORS
 * preflights. So any request that announces a body is refused, whatever its method: a
 * Transfer-Encoding of any kind, more than one Content-Length, or one that is not zero
 * (`Content-Length: 0`, which some clients send with every request, is fine).
 */

/** Iterates a request's headers as uWS gives them: names lowercased, every occurrence. */
export type ForEachHeader = (cb: (name: string, value: string) => void) => void;

/** Why the request's framing is refused (one line, for the 400's body), or undefined. */
export function refusedFraming(forEachHeader: ForEachHeader): string | undefined {
  let lengths = 0;
  let length = '';
  let transferEncoding = false;
  forEachHeader((name, value) => {
    if (name === 'content-length') {
      lengths++;
      length = value;
    } else if (name === 'transfer-encoding') transferEncoding = true;
  });
  if (transferEncoding) return 'Transfer-Encoding not accepted: no route takes a request body';
  if (lengths > 1) return 'more than one Content-Length';
  if (lengths === 1 && !/^0+$/.test(length.trim())) return 'request body not accepted: no route takes one';
  return undefined;
}
