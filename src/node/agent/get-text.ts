// One GET for the app's metrics page over node:http. Global fetch() would load Node's bundled
// undici on the first call, about 12 MB of resident memory in a daemon that otherwise never
// uses it; http is loaded already (the daemon's own server).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A metrics page larger than this is not an app's metrics page. */
const MAX_BYTES = 8 * 1024 * 1024;

/** The body of a 2xx answer as UTF-8; rejects on another status, a network error, `timeoutMs` or an oversize body. */
export function getText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, text = ''): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(text);
      }
    };
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', headers: { 'user-agent': 'upshift-monitor', 'accept-encoding': 'identity' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        return finish(new Error(`HTTP ${status}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) return finish(new Error(`answer larger than ${MAX_BYTES} bytes`));
        chunks.push(c);
      });
      res.on('end', () => finish(null, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => finish(err));
    });
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => finish(new Error((err as NodeJS.ErrnoException).code ?? err.message)));
    req.end();
  });
}
