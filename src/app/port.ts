/** The port several HTTP threads share, checked free before they listen. */

import { type AddressInfo, createServer } from 'node:net';

/**
 * The port several HTTP threads will share: `port` once it is checked free (the threads listen
 * with SO_REUSEPORT, which would let them join another server's port unnoticed), or a free one
 * for port 0 (each thread listening on port 0 would get its own).
 */
export async function sharedPort(host: string, port: number): Promise<number> {
  const probe = createServer(); // node listens exclusively: it fails on any listener, SO_REUSEPORT or not
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port} (${err.code ?? err.message})`)));
    probe.listen(port, host, resolve);
  });
  const { port: bound } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return bound;
}
