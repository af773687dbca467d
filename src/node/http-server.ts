/** Node adapter: serves a fetch-style handler `(Request) => Promise<Response>` over node:http. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { MailPkiError } from '../errors.js';

export interface ServeOptions {
  port: number;
  /** Default 127.0.0.1: listening on every address is an explicit choice. */
  host?: string;
  /** Largest request body read (default 1 MiB). */
  maxBodyBytes?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  close(): Promise<void>;
  server: Server;
}

async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export async function serveHttp(handler: (request: Request) => Promise<Response>, options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const max = options.maxBodyBytes ?? 1024 * 1024;
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
        const body = hasBody ? await readBody(req, max) : undefined;
        if (hasBody && body === undefined) {
          res.writeHead(413).end();
          req.destroy();
          return;
        }
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
        const request = new Request(`http://${req.headers.host ?? host}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers,
          ...(body && { body: body.slice() as Uint8Array<ArrayBuffer> }),
        });
        const response = await handler(request);
        const out = new Uint8Array(await response.arrayBuffer());
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(req.method === 'HEAD' ? undefined : out);
      } catch {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new MailPkiError('ERR_IO', `cannot listen on ${host}:${options.port} (${(e as NodeJS.ErrnoException).code ?? e})`, { cause: e })));
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
