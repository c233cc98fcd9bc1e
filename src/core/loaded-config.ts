// A validated config and where it came from: what runtime/config-load.ts gives and
// runtime/config-cache.ts keeps. Its own file so neither of those imports the other for it.
import type { Config } from './config.js';

export interface LoadedConfig {
  config: Config;
  path: string;
  dir: string;
  stateDir: string;
}
