/** Identifiers that sort by creation time. */
import { toHex } from '../internal/bytes.js';

let lastMs = -1;
let seq = 0;

/**
 * A UUID version 7 (RFC 9562): the millisecond time, then a per-process counter, then random bits.
 * Stores list events by (createdAt, id) and credentials by (createdAt, id), so records made at
 * one instant (one transaction, or a fake clock) keep the order they were made in.
 */
export function timeOrderedId(crypto: Crypto, at: Date): string {
  const ms = at.getTime();
  if (ms === lastMs) seq = (seq + 1) & 0xfff;
  else {
    lastMs = ms;
    seq = 0;
  }
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  const hi = Math.floor(ms / 0x1000000);
  const lo = ms % 0x1000000;
  b[0] = (hi >>> 16) & 0xff;
  b[1] = (hi >>> 8) & 0xff;
  b[2] = hi & 0xff;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | (seq >>> 8);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
