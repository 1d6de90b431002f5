/** What every HTTP front end (uWebSockets.js, node:http) offers the rest of the server. */

import type { Logger } from '../core/log.js';
import type { Router } from './router.js';
import type { HttpSettings } from './settings.js';

import type { Viewer } from '../stream/viewer.js';

export interface FrontEndOptions {
  settings: HttpSettings;
  /** The port to listen on: settings.port, or the one chosen for every thread to share. */
  port: number;
  /** Other HTTP threads of this process listen on the same port (SO_REUSEPORT); else exclusive. */
  sharedPort: boolean;
  router: Router;
  log: Logger;
  /** Called when a viewer's stream ends (after it released its admission lease). */
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
