/**
 * Synchronous SHA-1 / SHA-256 / SHA-384 / SHA-512 (FIPS 180-4) over public data.
 *
 * Why not WebCrypto: each `subtle.digest` call is an asynchronous round trip through the
 * runtime's worker pool (~100 µs in Node). The PKCS#12 key derivation hashes its own output
 * `iterations` times in sequence (600,000 would take a minute), and digesting a few KiB of mail
 * or a certificate costs less than the round trip. Never used on secrets where timing matters
 * more than it does for a hash. Checked against `subtle.digest`, `openssl kdf` and published
 * vectors in test/pkcs12/sha-kdf.test.ts and test/internal/sha.test.ts.
 *
 * SHA-256 of message data ({@link createSha256}, {@link sha256}) uses the runtime's own
 * synchronous hash where there is one (node:crypto in Node, Deno and Bun, looked up without an
 * import, so this file still runs in browsers and workers, on the JavaScript round loop).
 */

import { toHex } from './bytes.js';
import { runtimeBuiltin } from './runtime.js';

export type Pkcs12Hash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

/** Output and block sizes in bytes (RFC 7292 Appendix B calls them u and v). */
export const HASH_SIZES: Record<Pkcs12Hash, { u: number; v: number }> = {
  'SHA-1': { u: 20, v: 64 },
  'SHA-256': { u: 32, v: 64 },
  'SHA-384': { u: 48, v: 128 },
  'SHA-512': { u: 64, v: 128 },
};

/** Hash state, block words and the compression function of one algorithm, allocated once per use. */
interface Engine {
  reset(): void;
  /** Compresses the 16 (SHA-1/256) or 32 (SHA-384/512, high/low interleaved) big-endian words in `block`. */
  compress(): void;
  readonly block: Int32Array;
  /** Puts the current hash value at the start of `block` (for hashing a hash). */
  stateToBlock(): void;
  digest(): Uint8Array;
}

function engine(hash: Pkcs12Hash): Engine {
  const u = HASH_SIZES[hash].u;
  if (hash === 'SHA-1' || hash === 'SHA-256') {
    const iv = hash === 'SHA-1' ? SHA1_IV : SHA256_IV;
    const h = new Int32Array(iv.length);
    const w = new Int32Array(hash === 'SHA-1' ? 80 : 64);
    const compress = hash === 'SHA-1' ? sha1Compress : sha256Compress;
    return {
      reset: () => h.set(iv),
      compress: () => compress(h, w),
      block: w,
      stateToBlock: () => w.set(h.subarray(0, u / 4)),
      digest: () => wordsToBytes(h).subarray(0, u),
    };
  }
  const [ivH, ivL] = hash === 'SHA-384' ? SHA384_IV : SHA512_IV;
  const H = new Int32Array(8), L = new Int32Array(8), wh = new Int32Array(80), wl = new Int32Array(80);
  const block = new Int32Array(32);
  return {
    reset: () => {
      H.set(ivH);
      L.set(ivL);
    },
    compress: () => {
      for (let i = 0; i < 16; i++) {
        wh[i] = block[2 * i]!;
        wl[i] = block[2 * i + 1]!;
      }
      sha512Compress(H, L, wh, wl);
    },
    block,
    stateToBlock: () => {
      for (let i = 0; i < u / 8; i++) {
        block[2 * i] = H[i]!;
        block[2 * i + 1] = L[i]!;
      }
    },
    digest: () => {
      const words = new Int32Array(16);
      for (let i = 0; i < 8; i++) {
        words[2 * i] = H[i]!;
        words[2 * i + 1] = L[i]!;
      }
      return wordsToBytes(words).subarray(0, u);
    },
  };
}

export function hashSync(hash: Pkcs12Hash, data: Uint8Array): Uint8Array {
  const { v } = HASH_SIZES[hash];
  const m = pad(data, v, v / 8);
  const view = new DataView(m.buffer);
  const e = engine(hash);
  e.reset();
  for (let off = 0; off < m.length; off += v) {
    for (let i = 0; i < v / 4; i++) e.block[i] = view.getInt32(off + i * 4);
    e.compress();
  }
  return e.digest();
}

/**
 * Hashes `digest` (one hash output) `times` more times. The padded input is a single block whose
 * tail never changes, so the loop only copies the state back into the block: no allocation.
 */
export function rehash(hash: Pkcs12Hash, digest: Uint8Array, times: number): Uint8Array {
  if (times <= 0) return digest;
  const { v } = HASH_SIZES[hash];
  const e = engine(hash);
  const padded = pad(digest, v, v / 8);
  const view = new DataView(padded.buffer);
  for (let i = 0; i < v / 4; i++) e.block[i] = view.getInt32(i * 4);
  for (let r = 0; r < times; r++) {
    e.reset();
    e.compress();
    e.stateToBlock();
  }
  return e.digest();
}

/** Message plus 0x80, zeros and the bit length, to a multiple of `block` bytes. */
function pad(data: Uint8Array, block: number, lengthBytes: number): Uint8Array {
  const total = Math.ceil((data.length + 1 + lengthBytes) / block) * block;
  const out = new Uint8Array(total);
  out.set(data);
  out[data.length] = 0x80;
  const view = new DataView(out.buffer);
  const bits = data.length * 8;
  view.setUint32(total - 8, Math.floor(bits / 0x100000000));
  view.setUint32(total - 4, bits >>> 0);
  return out;
}

function wordsToBytes(words: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i]! >>> 0);
  return out;
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

const SHA1_IV = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);

/** One SHA-1 block: `w[0..15]` holds the block, the rest is scratch. */
function sha1Compress(h: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!, 1);
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!;
  for (let i = 0; i < 80; i++) {
    const f = i < 20 ? (b & c) | (~b & d) : i < 40 || i >= 60 ? b ^ c ^ d : (b & c) | (b & d) | (c & d);
    const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
    const t = (rotl(a, 5) + f + e + k + w[i]!) | 0;
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = t;
  }
  h[0] = h[0]! + a;
  h[1] = h[1]! + b;
  h[2] = h[2]! + c;
  h[3] = h[3]! + d;
  h[4] = h[4]! + e;
}

const K256 = Int32Array.from(
  [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ].map((x) => x | 0),
);

const SHA256_IV = Int32Array.from(
  [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19].map((x) => x | 0),
);

/** One SHA-256 block given as 16 words in `w` (the engine's form): through the one round loop, {@link sha256Blocks}. */
function sha256Compress(h: Int32Array, w: Int32Array): void {
  const b = BLOCK256;
  for (let i = 0; i < 16; i++) {
    const x = w[i]!;
    b[4 * i] = x >>> 24;
    b[4 * i + 1] = x >>> 16;
    b[4 * i + 2] = x >>> 8;
    b[4 * i + 3] = x;
  }
  sha256Blocks(h, b, 0, 64);
}
const BLOCK256 = new Uint8Array(64);
/** Scratch for the final padded block(s) of {@link Sha256.digest}. */
const PAD256 = new Uint8Array(128);

/** Scratch block words for {@link sha256Blocks}: hashing is synchronous, so one array serves every call. */
const W256 = new Int32Array(64);

/**
 * Compresses every whole 64-byte block of `p[pos..end)` into `h`, reading the bytes directly
 * with the state in locals across blocks (1.2–1.3× faster here than a function call per block;
 * the body hash of a message is the hot path of DKIM and S/MIME). The only SHA-256 round loop.
 */
function sha256Blocks(h: Int32Array, p: Uint8Array, pos: number, end: number): void {
  const w = W256;
  const k = K256;
  let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!, h6 = h[6]!, h7 = h[7]!;
  while (pos + 64 <= end) {
    for (let i = 0; i < 16; i++, pos += 4) w[i] = (p[pos]! << 24) | (p[pos + 1]! << 16) | (p[pos + 2]! << 8) | p[pos + 3]!;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (s1 + w[i - 7]! + s0 + w[i - 16]!) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7;
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + k[i]! + w[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + hh) | 0;
  }
  h[0] = h0;
  h[1] = h1;
  h[2] = h2;
  h[3] = h3;
  h[4] = h4;
  h[5] = h5;
  h[6] = h6;
  h[7] = h7;
}

// SHA-512 on 64-bit words held as (high, low) pairs of 32-bit ints: BigInt would be 30 times slower.
const hex64 = (list: string): [Int32Array, Int32Array] => {
  const words = list.split(/\s+/).filter(Boolean);
  return [Int32Array.from(words, (w) => parseInt(w.slice(0, 8), 16) | 0), Int32Array.from(words, (w) => parseInt(w.slice(8), 16) | 0)];
};
const [K512H, K512L] = hex64(`
  428a2f98d728ae22 7137449123ef65cd b5c0fbcfec4d3b2f e9b5dba58189dbbc 3956c25bf348b538 59f111f1b605d019
  923f82a4af194f9b ab1c5ed5da6d8118 d807aa98a3030242 12835b0145706fbe 243185be4ee4b28c 550c7dc3d5ffb4e2
  72be5d74f27b896f 80deb1fe3b1696b1 9bdc06a725c71235 c19bf174cf692694 e49b69c19ef14ad2 efbe4786384f25e3
  0fc19dc68b8cd5b5 240ca1cc77ac9c65 2de92c6f592b0275 4a7484aa6ea6e483 5cb0a9dcbd41fbd4 76f988da831153b5
  983e5152ee66dfab a831c66d2db43210 b00327c898fb213f bf597fc7beef0ee4 c6e00bf33da88fc2 d5a79147930aa725
  06ca6351e003826f 142929670a0e6e70 27b70a8546d22ffc 2e1b21385c26c926 4d2c6dfc5ac42aed 53380d139d95b3df
  650a73548baf63de 766a0abb3c77b2a8 81c2c92e47edaee6 92722c851482353b a2bfe8a14cf10364 a81a664bbc423001
  c24b8b70d0f89791 c76c51a30654be30 d192e819d6ef5218 d69906245565a910 f40e35855771202a 106aa07032bbd1b8
  19a4c116b8d2d0c8 1e376c085141ab53 2748774cdf8eeb99 34b0bcb5e19b48a8 391c0cb3c5c95a63 4ed8aa4ae3418acb
  5b9cca4f7763e373 682e6ff3d6b2b8a3 748f82ee5defb2fc 78a5636f43172f60 84c87814a1f0ab72 8cc702081a6439ec
  90befffa23631e28 a4506cebde82bde9 bef9a3f7b2c67915 c67178f2e372532b ca273eceea26619c d186b8c721c0c207
  eada7dd6cde0eb1e f57d4f7fee6ed178 06f067aa72176fba 0a637dc5a2c898a6 113f9804bef90dae 1b710b35131c471b
  28db77f523047d84 32caab7b40c72493 3c9ebe0a15c9bebc 431d67c49c100d4c 4cc5d4becb3e42b6 597f299cfc657e2a
  5fcb6fab3ad6faec 6c44198c4a475817`);
const SHA512_IV = hex64(`6a09e667f3bcc908 bb67ae8584caa73b 3c6ef372fe94f82b a54ff53a5f1d36f1
  510e527fade682d1 9b05688c2b3e6c1f 1f83d9abfb41bd6b 5be0cd19137e2179`);
const SHA384_IV = hex64(`cbbb9d5dc1059ed8 629a292a367cd507 9159015a3070dd17 152fecd8f70e5939
  67332667ffc00b31 8eb44a8768581511 db0c2e0d64f98fa7 47b5481dbefa4fa4`);

// 64-bit rotate right / shift right by n, high and low halves computed separately.
const rH = (h: number, l: number, n: number): number => (n < 32 ? (h >>> n) | (l << (32 - n)) : (l >>> (n - 32)) | (h << (64 - n)));
const rL = (h: number, l: number, n: number): number => (n < 32 ? (l >>> n) | (h << (32 - n)) : (h >>> (n - 32)) | (l << (64 - n)));
const sL = (h: number, l: number, n: number): number => (l >>> n) | (h << (32 - n));
const CARRY = 0x100000000;

/** One SHA-512 block: `wh/wl[0..15]` hold the block as high/low words, the rest is scratch. */
function sha512Compress(H: Int32Array, L: Int32Array, wh: Int32Array, wl: Int32Array): void {
  for (let i = 16; i < 80; i++) {
    const xh = wh[i - 15]!, xl = wl[i - 15]!, yh = wh[i - 2]!, yl = wl[i - 2]!;
    const s0h = rH(xh, xl, 1) ^ rH(xh, xl, 8) ^ (xh >>> 7);
    const s0l = rL(xh, xl, 1) ^ rL(xh, xl, 8) ^ sL(xh, xl, 7);
    const s1h = rH(yh, yl, 19) ^ rH(yh, yl, 61) ^ (yh >>> 6);
    const s1l = rL(yh, yl, 19) ^ rL(yh, yl, 61) ^ sL(yh, yl, 6);
    const lo = (s0l >>> 0) + (s1l >>> 0) + (wl[i - 7]! >>> 0) + (wl[i - 16]! >>> 0);
    wl[i] = lo | 0;
    wh[i] = (s0h + s1h + wh[i - 7]! + wh[i - 16]! + Math.floor(lo / CARRY)) | 0;
  }
  let ah = H[0]!, al = L[0]!, bh = H[1]!, bl = L[1]!, ch = H[2]!, cl = L[2]!, dh = H[3]!, dl = L[3]!;
  let eh = H[4]!, el = L[4]!, fh = H[5]!, fl = L[5]!, gh = H[6]!, gl = L[6]!, hh = H[7]!, hl = L[7]!;
  for (let i = 0; i < 80; i++) {
    const S1h = rH(eh, el, 14) ^ rH(eh, el, 18) ^ rH(eh, el, 41);
    const S1l = rL(eh, el, 14) ^ rL(eh, el, 18) ^ rL(eh, el, 41);
    const chh = (eh & fh) ^ (~eh & gh);
    const chl = (el & fl) ^ (~el & gl);
    const t1lo = (hl >>> 0) + (S1l >>> 0) + (chl >>> 0) + (K512L[i]! >>> 0) + (wl[i]! >>> 0);
    const t1h = (hh + S1h + chh + K512H[i]! + wh[i]! + Math.floor(t1lo / CARRY)) | 0;
    const t1l = t1lo | 0;
    const S0h = rH(ah, al, 28) ^ rH(ah, al, 34) ^ rH(ah, al, 39);
    const S0l = rL(ah, al, 28) ^ rL(ah, al, 34) ^ rL(ah, al, 39);
    const majh = (ah & bh) ^ (ah & ch) ^ (bh & ch);
    const majl = (al & bl) ^ (al & cl) ^ (bl & cl);
    const t2lo = (S0l >>> 0) + (majl >>> 0);
    const t2h = (S0h + majh + Math.floor(t2lo / CARRY)) | 0;
    const t2l = t2lo | 0;
    hh = gh; hl = gl; gh = fh; gl = fl; fh = eh; fl = el;
    const elo = (dl >>> 0) + (t1l >>> 0);
    eh = (dh + t1h + Math.floor(elo / CARRY)) | 0;
    el = elo | 0;
    dh = ch; dl = cl; ch = bh; cl = bl; bh = ah; bl = al;
    const alo = (t1l >>> 0) + (t2l >>> 0);
    ah = (t1h + t2h + Math.floor(alo / CARRY)) | 0;
    al = alo | 0;
  }
  const add = (i: number, h: number, l: number): void => {
    const lo = (L[i]! >>> 0) + (l >>> 0);
    H[i] = (H[i]! + h + Math.floor(lo / CARRY)) | 0;
    L[i] = lo | 0;
  };
  add(0, ah, al); add(1, bh, bl); add(2, ch, cl); add(3, dh, dl);
  add(4, eh, el); add(5, fh, fl); add(6, gh, gl); add(7, hh, hl);
}

/** In JavaScript, inputs up to this size are hashed synchronously; larger ones by WebCrypto (native is faster there). */
const SYNC_SHA256_MAX = 64 * 1024;
/** With the native hash, up to this size (≈ 1 ms here): larger inputs go to WebCrypto, off the calling thread. */
const NATIVE_SYNC_SHA256_MAX = 1024 * 1024;

/**
 * Whether {@link sha256} is the better way for `length` bytes than a WebCrypto `digest` round
 * trip: up to 1 MiB where the runtime has a native SHA-256, up to 64 KiB on the JavaScript one.
 * Beyond, the round trip costs little beside the hash, and the hash does not block the thread.
 */
export function preferSyncSha256(length: number): boolean {
  return length <= (nativeSha256() !== null ? NATIVE_SYNC_SHA256_MAX : SYNC_SHA256_MAX);
}

/** SHA-256 without a WebCrypto round trip, for small public inputs (digests of mail parts, certificates). */
export function sha256(data: Uint8Array): Uint8Array {
  return createSha256().update(data).digest();
}

/** A SHA-256 in progress: {@link Sha256} or the runtime's native one, used alike. */
export interface Sha256Hash {
  update(data: Uint8Array, start?: number, end?: number): this;
  /** The hash of everything given to update(). Ends the hash: the object cannot be used after. */
  digest(): Uint8Array<ArrayBuffer>;
}

/** The part of node:crypto's Hash that is used here (Node, Deno and Bun have it). */
interface NativeHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}
type NativeHashConstructor = (algorithm: 'sha256') => NativeHash;

/**
 * The runtime's own synchronous SHA-256 (node:crypto's createHash in Node, Deno and Bun), found
 * without importing a Node module so this file runs anywhere; null where there is none. It is
 * native code (≈ 6× the JavaScript round loop on 5 KiB here) and, unlike `subtle.digest`, costs no
 * worker round trip. Looked up once.
 */
let nativeCreateHash: NativeHashConstructor | null | undefined;
function nativeSha256(): NativeHashConstructor | null {
  if (nativeCreateHash !== undefined) return nativeCreateHash;
  let create = runtimeBuiltin<{ createHash: NativeHashConstructor }>('node:crypto')?.createHash;
  try {
    // A runtime that has the name but not SHA-256 (or a stub) is not used.
    if (create && toHex(create('sha256').digest()) !== EMPTY_SHA256) create = undefined;
  } catch {
    create = undefined;
  }
  nativeCreateHash = create ?? null;
  return nativeCreateHash;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** node:crypto's Hash behind the {@link Sha256Hash} shape. */
class NativeSha256 implements Sha256Hash {
  private readonly h: NativeHash;
  constructor(create: NativeHashConstructor) {
    this.h = create('sha256');
  }
  update(data: Uint8Array, start = 0, end = data.length): this {
    this.h.update(start === 0 && end === data.length ? data : data.subarray(start, end));
    return this;
  }
  digest(): Uint8Array<ArrayBuffer> {
    // A plain Uint8Array of its own (not a Buffer, which may share a pool).
    return new Uint8Array(this.h.digest());
  }
}

/**
 * A new SHA-256: the runtime's native one where it has one (Node, Deno, Bun), else {@link Sha256}.
 * For public data only (message bodies, headers, certificates), like everything in this file.
 */
export function createSha256(): Sha256Hash {
  const native = nativeSha256();
  return native ? new NativeSha256(native) : new Sha256();
}

/** Whether {@link createSha256} uses the runtime's native SHA-256 (for tests and benchmarks). */
export function hasNativeSha256(): boolean {
  return nativeSha256() !== null;
}

/**
 * Incremental SHA-256: the state is kept between `update` calls, so a body fed in chunks (DKIM
 * body hashes, streams) is hashed without a copy of the whole input.
 */
export class Sha256 implements Sha256Hash {
  private readonly h = Int32Array.from(SHA256_IV);
  /** Bytes short of a whole block (64 bytes: V8 keeps so small an array on its own heap, no malloc). */
  private readonly buf = new Uint8Array(64);
  private bufLen = 0;
  private total = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    this.total += end - start;
    let i = start;
    if (this.bufLen > 0) {
      const take = Math.min(64 - this.bufLen, end - i);
      this.buf.set(data.subarray(i, i + take), this.bufLen);
      this.bufLen += take;
      i += take;
      if (this.bufLen < 64) return this;
      sha256Blocks(this.h, this.buf, 0, 64);
      this.bufLen = 0;
    }
    const whole = i + ((end - i) & ~63);
    sha256Blocks(this.h, data, i, whole);
    i = whole;
    if (i < end) {
      this.buf.set(data.subarray(i, end));
      this.bufLen = end - i;
    }
    return this;
  }

  /** The hash of everything given to update(). Ends the hash: the object cannot be used after. */
  digest(): Uint8Array<ArrayBuffer> {
    const bits = this.total * 8;
    const buf = PAD256;
    buf.set(this.buf.subarray(0, this.bufLen));
    let len = this.bufLen;
    buf[len++] = 0x80;
    const end = len <= 56 ? 64 : 128;
    buf.fill(0, len, end - 8);
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    buf[end - 8] = hi >>> 24;
    buf[end - 7] = hi >>> 16;
    buf[end - 6] = hi >>> 8;
    buf[end - 5] = hi;
    buf[end - 4] = lo >>> 24;
    buf[end - 3] = lo >>> 16;
    buf[end - 2] = lo >>> 8;
    buf[end - 1] = lo;
    sha256Blocks(this.h, buf, 0, end);
    const out = new Uint8Array(32);
    for (let j = 0; j < 8; j++) {
      const w = this.h[j]!;
      out[4 * j] = w >>> 24;
      out[4 * j + 1] = w >>> 16;
      out[4 * j + 2] = w >>> 8;
      out[4 * j + 3] = w;
    }
    return out;
  }
}
