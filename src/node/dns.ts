/** The default DKIM key resolver for Node: node:dns/promises, with its own servers and timeout if asked. */
import { Resolver } from 'node:dns/promises';
import type { DkimResolver } from '../dkim/resolver.js';

export interface NodeDnsResolverOptions {
  /** DNS servers ('127.0.0.1:5353', '[::1]:53'); default the system's. */
  servers?: readonly string[];
  /** Per-try timeout in milliseconds; default 5000. */
  timeoutMs?: number;
  /** Tries per server; default 2. */
  tries?: number;
}

/**
 * A DkimResolver on Node's DNS. NXDOMAIN and "no TXT record" come back as an empty list (verify
 * reports permerror "no key"); timeouts, SERVFAIL and refusals throw (verify reports temperror).
 *
 * @example
 * const v = await verifyDkim(message, { resolver: nodeDnsResolver({ servers: ['127.0.0.1:5353'], timeoutMs: 1000 }) });
 */
export function nodeDnsResolver(options: NodeDnsResolverOptions = {}): DkimResolver {
  const r = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers?.length) r.setServers([...options.servers]);
  return async (name) => {
    try {
      return await r.resolveTxt(name);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw e;
    }
  };
}
