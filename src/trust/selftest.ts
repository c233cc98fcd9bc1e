// A start-up and `keys` check that the configured signing keys and the trusted keyset
// agree: sign a fresh random challenge and verify it the way a node would. It reports
// rather than throws, so a daemon or CLI can show the reason and decide what to do.
import { isUpshiftError } from '../core/errors.js';
import { PAYLOAD_TYPES } from '../core/manifest.js';
import { bytesEqual } from './bytes.js';
import { parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export interface SelfTestResult {
  ok: boolean;
  reason: string;
  /** Keyids of the signers that the keyset trusts. */
  keyids: string[];
}

const CHALLENGE_BYTES = 32;

export function signVerifySelfTest(signers: readonly Signer[], keyset: Keyset, randomBytes: (n: number) => Uint8Array): SelfTestResult {
  const keyids = [...new Set(signers.map((s) => s.keyid).filter((id) => keyset.keys.has(id)))];
  const untrusted = signers.map((s) => s.keyid).filter((id) => !keyset.keys.has(id));
  const note = untrusted.length ? ` (not in the keyset: ${untrusted.join(', ')})` : '';
  try {
    const challenge = randomBytes(CHALLENGE_BYTES);
    if (challenge.length !== CHALLENGE_BYTES) return { ok: false, reason: 'the random source returned the wrong number of bytes', keyids };
    // Through the wire form, so serialization is tested along with the keys.
    const wire = serializeEnvelope(signEnvelope(PAYLOAD_TYPES.selftest, challenge, signers));
    const verified = verifyEnvelope(parseEnvelope(wire), keyset, PAYLOAD_TYPES.selftest);
    if (!bytesEqual(verified, challenge)) return { ok: false, reason: 'verified bytes differ from the challenge', keyids };
    const reason = `${keyids.length} trusted key(s) signed a fresh challenge; threshold ${keyset.threshold} met${note}`;
    return { ok: true, reason, keyids };
  } catch (err) {
    const reason = isUpshiftError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `${reason}${note}`, keyids };
  }
}
