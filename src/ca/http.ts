/**
 * LocalCA's publication point as a runtime-agnostic fetch handler, `(Request) => Promise<Response>`:
 * CRLs, CA certificates and OCSP (GET and POST). Mount it in any server that speaks Request/Response
 * (Node via `mailpki/node`'s `serveHttp`, Deno, Bun, workers).
 */
import { decodeOcspGetPath } from '../revocation/ocsp-request.js';
import { MAX_OCSP_REQUEST_BYTES } from '../revocation/ocsp-common.js';
import { createOcspErrorResponse } from '../revocation/ocsp-responder.js';
import type { LocalCA } from './local-ca.js';

export interface CaHandlerOptions {
  /** Reuse a CRL this long unless a revocation happened since (default 5 minutes). */
  crlCacheSeconds?: number;
  /**
   * How often to look for issuances and revocations made by other processes (default every
   * 250 ms at most: one small read of ca.json). A request that arrives `refreshMs` after another
   * process's revoke returned is answered from records that include it.
   */
  refreshMs?: number;
  /**
   * Reload every record at least this often even when ca.json's revision did not move (default
   * 30 000 ms): the backstop for two writers that opened the CA at the same revision.
   */
  fullRefreshMs?: number;
  clock?: () => Date;
}

const bytes = (body: Uint8Array, type: string, extra: Record<string, string> = {}): Response =>
  new Response(body.slice(), { status: 200, headers: { 'content-type': type, 'content-length': String(body.length), ...extra } });

const text = (status: number, message: string): Response => new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });

/**
 * Routes: `GET /crl/issuing.crl`, `GET /crl/root.crl` (application/pkix-crl), `GET /ca/issuing.cer`,
 * `GET /ca/root.cer` (application/pkix-cert), `POST /ocsp` and `GET /ocsp/<base64 request>`
 * (application/ocsp-response). Anything else is 404; a bad OCSP request gets an OCSP
 * malformedRequest answer, as RFC 6960 wants.
 */
export function createCaHandler(ca: LocalCA, options: CaHandlerOptions = {}): (request: Request) => Promise<Response> {
  const clock = options.clock ?? (() => new Date());
  const maxAge = (options.crlCacheSeconds ?? 300) * 1000;
  let crl: { der: Uint8Array; at: number; revoked: string } | undefined;

  const currentCrl = async (): Promise<Uint8Array> => {
    const revoked = JSON.stringify(ca.revocations().map((r) => [r.serialNumber, r.reason]));
    const now = clock().getTime();
    if (!crl || crl.revoked !== revoked || now - crl.at > maxAge) crl = { der: await ca.createCrl(), at: now, revoked };
    return crl.der;
  };

  const ocsp = async (der: Uint8Array): Promise<Response> => {
    const answer = await ca.respondOcsp(der);
    return bytes(answer, 'application/ocsp-response', { 'cache-control': 'no-cache' });
  };

  // Monotonic time for the throttle (the injected clock may stand still in tests). A request is
  // answered only after a check of ca.json that started at most `refreshMs` before it arrived:
  // if the latest check is older (or still running from before), it waits for a newer one.
  const refreshMs = options.refreshMs ?? 250;
  const monotonic = () => globalThis.performance?.now() ?? Date.now();
  const fullRefreshMs = options.fullRefreshMs ?? 30_000;
  let lastCheck = -Infinity;
  let lastFull = monotonic();
  let inflight: Promise<void> | undefined;
  const refresh = async () => {
    const arrival = monotonic();
    for (;;) {
      if (lastCheck >= arrival - refreshMs) {
        if (inflight) await inflight;
        return;
      }
      if (inflight) {
        await inflight.catch(() => undefined);
        continue;
      }
      lastCheck = monotonic();
      const full = lastCheck - lastFull >= fullRefreshMs;
      if (full) lastFull = lastCheck;
      inflight = ca.refresh({ full }).then(
        () => {
          inflight = undefined;
        },
        (e: unknown) => {
          inflight = undefined;
          lastCheck = -Infinity; // the next request tries again
          throw e;
        },
      );
    }
  };

  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      await refresh();
      if (request.method === 'GET' || request.method === 'HEAD') {
        if (path === '/crl/issuing.crl') return bytes(await currentCrl(), 'application/pkix-crl');
        if (path === '/crl/root.crl') {
          const root = await ca.rootCrl();
          return root ? bytes(root, 'application/pkix-crl') : text(404, 'no root CRL');
        }
        if (path === '/ca/issuing.cer') return bytes(ca.issuingCertificate.der, 'application/pkix-cert');
        if (path === '/ca/root.cer') return bytes(ca.rootCertificate.der, 'application/pkix-cert');
        if (path.startsWith('/ocsp/')) {
          let der: Uint8Array;
          try {
            der = decodeOcspGetPath(path.slice('/ocsp/'.length));
          } catch {
            return bytes(createOcspErrorResponse('malformedRequest'), 'application/ocsp-response');
          }
          return ocsp(der);
        }
      }
      if (request.method === 'POST' && path === '/ocsp') {
        const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
        if (type !== 'application/ocsp-request') return text(415, 'expected application/ocsp-request');
        const declared = Number(request.headers.get('content-length') ?? NaN);
        if (Number.isFinite(declared) && declared > MAX_OCSP_REQUEST_BYTES) return text(413, 'OCSP request too large');
        const body = new Uint8Array(await request.arrayBuffer());
        if (body.length > MAX_OCSP_REQUEST_BYTES) return text(413, 'OCSP request too large');
        return ocsp(body);
      }
      return text(404, 'not found');
    } catch {
      // Never leak internals; a signing failure is an OCSP internalError or a 500.
      if (path.startsWith('/ocsp')) return bytes(createOcspErrorResponse('internalError'), 'application/ocsp-response');
      return text(500, 'internal error');
    }
  };
}
