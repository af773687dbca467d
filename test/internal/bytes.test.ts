/** toBase64: RFC 4648 §4 padded base64, checked against Node's encoder (every tail length, the piece boundaries). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/internal/bytes.js';

describe('toBase64', () => {
  it("gives Node's base64 for every length up to 600 and around its 32 KiB pieces", () => {
    const lengths = [...Array.from({ length: 601 }, (_, i) => i), 0x8000 * 3 - 4, 0x8000 * 3 - 1, 0x8000 * 3, 0x8000 * 3 + 1, 0x8000 * 4, 200_000];
    for (const n of lengths) {
      const bytes = new Uint8Array(randomBytes(n));
      const b64 = toBase64(bytes);
      expect(b64, `length ${n}`).toBe(Buffer.from(bytes).toString('base64'));
      expect(Buffer.from(fromBase64(b64)!).equals(bytes), `length ${n}`).toBe(true);
    }
  });

  it('every byte value, and a view into a larger buffer', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toBase64(all)).toBe(Buffer.from(all).toString('base64'));
    const view = all.subarray(7, 100);
    expect(toBase64(view)).toBe(Buffer.from(view).toString('base64'));
  });
});
