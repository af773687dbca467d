/** The DKIM key resolver on node:dns/promises, with its own servers and timeout if asked. */
import { Resolver } from 'node:dns/promises';
import { dnsClientResolver, type DnsClientOptions, type DkimResolver } from '../dkim/resolver.js';

export type NodeDnsResolverOptions = DnsClientOptions;

/**
 * A DkimResolver on Node's DNS (what verifyDkim uses when given none). NXDOMAIN and "no TXT
 * record" come back as an empty list (verify reports permerror "no key"); timeouts, SERVFAIL and
 * refusals throw (verify reports temperror).
 *
 * @example
 * const v = await verifyDkim(message, { resolver: nodeDnsResolver({ servers: ['127.0.0.1:5353'], timeoutMs: 1000 }) });
 */
export function nodeDnsResolver(options: NodeDnsResolverOptions = {}): DkimResolver {
  return dnsClientResolver(Resolver, options);
}
