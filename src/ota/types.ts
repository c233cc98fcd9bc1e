// The shapes of an OTA check, apart from check.ts so the modules it calls can name them.
import type { Config } from '../core/config.js';
import type { ErrorCode } from '../core/errors.js';
import type { ApplyJournal, StateStore as Store } from '../core/store-ports.js';
import type { ApplyLog } from '../node/apply/context.js';
import type { ApplyEngine } from '../node/apply/engine.js';
import type { Keyset } from '../trust/keyset.js';

export interface OtaDeps {
  config: Config;
  store: Store;
  tables: ApplyJournal;
  keyset: Keyset;
  /** Null without an `app:` section: the check can report, never apply. */
  engine: ApplyEngine | null;
  clock: { now(): number };
  log?: ApplyLog;
}

export interface OtaOptions {
  apply: boolean;
  track?: string;
  onProgress?: (got: number, total: number) => void;
}

export type OtaOutcomeKind = 'up-to-date' | 'available' | 'updated' | 'refused' | 'failed';

export interface OtaOutcome {
  ok: boolean;
  outcome: OtaOutcomeKind;
  track: string;
  reason: string;
  /** Where the node was on the track before the check. */
  from: { seq: number | null; version: string | null };
  /** The release picked from the feed, once known. */
  release: { tag: string; seq: number | null; version: string | null } | null;
  error?: { code: ErrorCode; message: string; details?: Record<string, unknown> };
  download?: { bytes: number; resumes: number };
}
