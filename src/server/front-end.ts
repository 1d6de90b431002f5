/** What every HTTP front end (uWebSockets.js, node:http) offers the rest of the server. */

import type { Logger } from '../core/log.js';
import type { RouterOptions } from './router.js';
import type { Viewer } from '../stream/viewer.js';

export interface TlsFiles {
  /** PEM certificate (chain) file. */
  cert: string;
  /** PEM private key file. */
  key: string;
}

export interface FrontEndOptions {
  host: string;
  port: number;
  tls: TlsFiles | undefined;
  /** Other HTTP threads of this process listen on the same port (SO_REUSEPORT); else exclusive. */
  sharedPort?: boolean;
  router: RouterOptions;
  log: Logger;
  /** Called when a viewer's stream ends (it gives back its place in the router's viewerCount). */
  onViewerGone: (viewer: Viewer) => void;
}

export interface FrontEnd {
  /** 'uws' or 'node'. */
  readonly name: string;
  /** The port actually listened on. */
  readonly port: number;
  /** Stream viewers connected now. */
  readonly viewers: ReadonlySet<Viewer>;
  /** Stops accepting and ends every stream. */
  close(): void;
}

export const FRONT_ENDS = ['uws', 'node'] as const;
export type FrontEndName = (typeof FRONT_ENDS)[number];
