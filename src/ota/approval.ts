// The fleet approval gate (SPEC "OTA"; HART OS's "fleet approval from regional host", which
// fails open there). Here it fails closed: only status 200 with a JSON body whose
// `approved` is exactly true, within the timeout, is a yes. Anything else is a refusal
// whose reason is logged and printed.
import { UpshiftError } from '../core/errors.js';

export interface ApprovalRequest {
  url: string;
  timeoutMs: number;
  node: string;
  track: string;
  version: string;
  seq: number;
  /** The check's own deadline; the approval's timeout applies within it. */
  signal?: AbortSignal;
}

const MAX_BODY = 64 * 1024;

/** Resolves with the reason when approved; throws E_APPROVAL_DENIED or E_APPROVAL_UNAVAILABLE. */
export async function askApproval(req: ApprovalRequest): Promise<string> {
  const url = new URL(req.url);
  url.searchParams.set('node', req.node);
  url.searchParams.set('track', req.track);
  url.searchParams.set('version', req.version);
  url.searchParams.set('seq', String(req.seq));
  const where = `${url.origin}${url.pathname}`;
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  let status: number;
  let text: string;
  try {
    // No redirects: an approval from wherever a redirect points is not the configured one.
    const res = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'application/json' } });
    status = res.status;
    text = await readCapped(res);
  } catch (err) {
    const why = timeout.aborted ? `no answer within ${req.timeoutMs} ms` : (err as Error).message;
    throw new UpshiftError('E_APPROVAL_UNAVAILABLE', `approval endpoint ${where} could not be asked (${why}): no update`, {
      cause: err, details: { url: where },
    });
  }
  if (status !== 200) {
    throw new UpshiftError('E_APPROVAL_DENIED',
      `approval endpoint ${where} answered HTTP ${status}: no update`,
      { details: { url: where, status } },
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UpshiftError('E_APPROVAL_UNAVAILABLE',
      `approval endpoint ${where} answered 200 with a body that is not JSON: no update`,
      { details: { url: where } },
    );
  }
  const approved = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).approved : undefined;
  if (approved === true) return `approved by ${where}`;
  const reason = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).reason : undefined;
  const said = typeof reason === 'string' ? `: ${reason.slice(0, 300)}` : '';
  if (approved === false) {
    throw new UpshiftError('E_APPROVAL_DENIED',
      `approval endpoint ${where} did not approve ${req.track} ${req.version}${said}`,
      { details: { url: where } },
    );
  }
  throw new UpshiftError('E_APPROVAL_UNAVAILABLE',
    `approval endpoint ${where} answered without "approved": true or false: no update`,
    { details: { url: where } },
  );
}

async function readCapped(res: Response): Promise<string> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  for await (const chunk of res.body ?? []) {
    got += chunk.byteLength;
    if (got > MAX_BODY) throw new Error(`answer longer than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
