// What every service function is given: the loaded config, the store, a clock and a
// logger, and who is asking (for the audit trail). Front doors (CLI, HTTP, MCP, the OTA
// timer) build one and call the same functions; none of them holds domain logic.
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore } from '../core/ports.js';

export interface ServiceContext {
  config: Config;
  store: StateStore;
  clock: Clock;
  log: Logger;
  /** Who asks: `cli:alice`, `mcp`, `http:<token>`; written to the audit trail. */
  actor: string;
}

/**
 * What a service answers: a sentence a person can act on, and the typed data behind it.
 * Errors are thrown as coded `UpshiftError`s, never returned.
 */
export interface Outcome<E> {
  reason: string;
  evidence: E;
}

/** A reason given by a caller for the audit trail: trimmed, 1 to 500 characters. */
export function auditReason(text: string, flag = '--reason'): string {
  const reason = text.trim();
  if (!reason || reason.length > 500) throw new UpshiftError('E_USAGE', `${flag} must be 1 to 500 characters`);
  return reason;
}

