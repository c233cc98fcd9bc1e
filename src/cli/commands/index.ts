import type { Command } from 'commander';
import type { Session } from '../shared.js';
import { registerInit } from './init.js';
import { registerKeys } from './keys.js';
import { registerManifest } from './manifest.js';
import { registerPipeline } from './pipeline.js';
import { registerStatus } from './status.js';
import { registerDaemon } from './daemon.js';
import { registerDemo } from './demo.js';
import { registerFleetToken } from './fleet-token.js';
import { registerJoin } from './join.js';
import { registerFleetView } from './fleet.js';
import { registerNode } from './node.js';

export function registerCommands(program: Command, session: Session): void {
  registerInit(program, session);
  registerStatus(program, session);
  registerPipeline(program, session);
  registerManifest(program, session);
  registerKeys(program, session);
  registerDaemon(program, session);
  registerDemo(program, session);
  registerJoin(program, session);
  registerFleetView(registerFleetToken(program, session), session);
  registerNode(program, session);
}
