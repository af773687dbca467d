/** DNS for the DKIM lifecycle: the publisher interface, a manual publisher, RFC 2136 updates with TSIG, and the wire format they use. */
export { manualPublisher } from './manual.js';
export { rfc2136Publisher, type DnsTransport, type Rfc2136Publisher, type Rfc2136PublisherOptions } from './rfc2136.js';
export { DNS_ERROR_CODES, type DnsErrorCode } from './errors.js';
export { TSIG_ALGORITHMS, importTsigKey, signTsig, verifyRequestTsig, verifyResponseTsig, type TsigAlgorithm, type TsigKey, type TsigKeyInput } from './tsig.js';
export {
  RCODE_NAMES,
  RR_CLASS,
  RR_TYPE,
  encodeName,
  encodeUpdate,
  parseMessage,
  rcodeName,
  txtRdata,
  type ParsedMessage,
  type TsigRecord,
  type UpdateOperation,
} from './wire.js';
export type { DnsPublisher, DnsTxtRecord, DnsTxtResolver } from './types.js';
