/**
 * A DnsPublisher that sends RFC 2136 dynamic updates signed with TSIG (RFC 8945). Each change
 * is one UPDATE: delete the TXT RRset of the name, then (publish, retire) add the new TXT. The
 * answer must come back NOERROR and carry a valid TSIG; anything else is a coded error and the
 * caller (the DKIM lifecycle) leaves its state unchanged. The network is a `DnsTransport`
 * (src/node/dns-update.ts for Node), so this module runs anywhere WebCrypto does.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { dnsError } from './errors.js';
import { DEFAULT_FUDGE, importTsigKey, signTsig, tsigKeySchema, verifyResponseTsig, type TsigKey, type TsigKeyInput } from './tsig.js';
import type { DnsPublisher, DnsTxtRecord } from './types.js';
import { OPCODE_UPDATE, RR_TYPE, encodeName, encodeUpdate, isInZone, parseMessage, rcodeName, txtRdata, type UpdateOperation } from './wire.js';

/**
 * Sends one DNS message to `server` ('127.0.0.1:53', '[::1]:5353') and resolves with the answer.
 * Must give up after `timeoutMs` with ERR_DNS_UNAVAILABLE.
 */
export type DnsTransport = (message: Uint8Array, options: { server: string; timeoutMs: number }) => Promise<Uint8Array>;

export interface Rfc2136PublisherOptions {
  /** The primary server: 'host:port' (port 53 when left out; IPv6 as '[::1]:53'). */
  server: string;
  /** The zone the records live in, e.g. 'example.com'. */
  zone: string;
  tsig: TsigKeyInput;
  transport: DnsTransport;
  /** TTL of added records; default 3600. */
  ttl?: number;
  /** Per message; default 5000 ms. */
  timeoutMs?: number;
  /** TSIG fudge in seconds; default 300. */
  fudge?: number;
  clock?: Clock;
  crypto?: Crypto;
}

const optionsSchema = z
  .object({
    server: z.string().min(1).max(300),
    zone: z.string().min(1).max(253),
    tsig: tsigKeySchema,
    transport: z.custom<DnsTransport>((v) => typeof v === 'function', 'expected a DnsTransport function'),
    ttl: z.number().int().min(0).max(0x7fffffff).optional(),
    timeoutMs: z.number().int().min(1).max(120_000).optional(),
    fudge: z.number().int().min(1).max(3600).optional(),
    clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
    crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .strict();

const REVOKED = 'v=DKIM1; p=';

export interface Rfc2136Publisher extends DnsPublisher {
  readonly zone: string;
  readonly server: string;
  /** Sends arbitrary update operations (one signed UPDATE message). */
  update(operations: readonly UpdateOperation[]): Promise<void>;
}

/**
 * @example
 * const publisher = rfc2136Publisher({
 *   server: '10.0.0.53:53', zone: 'example.com',
 *   tsig: { name: 'mailpki-update.', algorithm: 'hmac-sha256', secret: process.env.TSIG_SECRET! },
 *   transport: nodeDnsTransport(),
 * });
 * await publisher.publish({ name: 'sel._domainkey.example.com', value: 'v=DKIM1; k=ed25519; p=…' });
 */
export function rfc2136Publisher(options: Rfc2136PublisherOptions): Rfc2136Publisher {
  const o = parseInput(optionsSchema, options, 'rfc2136Publisher');
  const crypto = resolveCrypto(o.crypto);
  const clock = o.clock ?? systemClock;
  const ttl = o.ttl ?? 3600;
  const timeoutMs = o.timeoutMs ?? 5000;
  const fudge = o.fudge ?? DEFAULT_FUDGE;
  const zone = o.zone.toLowerCase().replace(/\.$/, '');
  encodeName(zone);
  let key: Promise<TsigKey> | undefined;
  const tsigKey = (): Promise<TsigKey> =>
    (key ??= importTsigKey(o.tsig, crypto).catch((e: unknown) => {
      key = undefined;
      throw e;
    }));

  const checkName = (name: string): string => {
    if (typeof name !== 'string') throw new MailPkiError('ERR_INVALID_INPUT', 'record name: expected a string', { details: { field: 'name' } });
    encodeName(name);
    // Data from the inventory, not a caller slip: a domain the publisher's zone does not cover.
    if (!isInZone(name, zone))
      throw new MailPkiError('ERR_INVALID_INPUT', `record name ${name} is not in zone ${zone} (this publisher updates ${zone} only)`, { details: { field: 'name', zone } });
    return name.toLowerCase().replace(/\.$/, '');
  };

  async function update(operations: readonly UpdateOperation[]): Promise<void> {
    const k = await tsigKey();
    const id = crypto.getRandomValues(new Uint16Array(1))[0]!;
    const unsigned = encodeUpdate({ id, zone, updates: operations });
    const signed = await signTsig(unsigned, k, { timeSigned: Math.floor(clock().getTime() / 1000), fudge, crypto });
    const answer = await o.transport(signed.message, { server: o.server, timeoutMs });
    const parsed = parseMessage(answer);
    if (parsed.id !== id || !parsed.qr || parsed.opcode !== OPCODE_UPDATE)
      throw dnsError('ERR_DNS_RESPONSE_INVALID', `the answer from ${o.server} does not belong to the update (id ${parsed.id}, opcode ${parsed.opcode})`);
    await verifyResponseTsig(answer, parsed, k, { requestMac: signed.mac, now: Math.floor(clock().getTime() / 1000), crypto });
    if (parsed.rcode !== 0)
      throw dnsError('ERR_DNS_UPDATE_REFUSED', `${o.server} refused the update of zone ${zone}: ${rcodeName(parsed.rcode)}`, {
        details: { rcode: rcodeName(parsed.rcode), zone },
      });
  }

  const replace = async (name: string, value: string, recordTtl: number | undefined): Promise<void> => {
    const n = checkName(name);
    return update([
      { op: 'delete-rrset', name: n, type: RR_TYPE.TXT },
      { op: 'add', name: n, type: RR_TYPE.TXT, ttl: recordTtl ?? ttl, rdata: txtRdata(value) },
    ]);
  };

  return Object.freeze({
    name: 'rfc2136',
    automatic: true,
    zone,
    server: o.server,
    update,
    publish: (r: DnsTxtRecord) => replace(r.name, r.value, r.ttl),
    retire: (r: { name: string; value?: string; ttl?: number }) => replace(r.name, r.value ?? REVOKED, r.ttl),
    remove: async (r: { name: string }) => update([{ op: 'delete-rrset', name: checkName(r.name), type: RR_TYPE.TXT }]),
  });
}
