/**
 * The one comparison key of a mailbox, for binding a From to a certificate (RFC 9598 §5, RFC 8550 §3):
 * the local part exactly (RFC 5321 §2.4), the domain case-insensitively and in A-labels, so that an
 * rfc822Name `user@xn--bcher-kva.example` and an SmtpUTF8Mailbox or From `user@Bücher.example` are
 * the same mailbox. No compatibility mapping (NFKC, UTS #46): a domain written with other characters
 * (a Cyrillic "с", a full-width "ｂ") has other A-labels and is another mailbox.
 */

/** `local@domain` with the domain as lower-case A-labels; an address without "@" is returned as it is (trimmed). */
export function mailboxKey(address: string): string {
  const parts = mailboxParts(address);
  return parts ? `${parts.local}@${domainToAscii(parts.domain)}` : address.trim();
}

/**
 * The local part and domain as every comparison reads them: surrounding whitespace (any Unicode
 * White_Space, as String.prototype.trim) removed, split at the last "@". Name constraints read a
 * mailbox this way too, or `ceo@bank.example` + U+3000 would bind as ceo@bank.example yet escape
 * an excluded subtree bank.example.
 */
export function mailboxParts(address: string): { local: string; domain: string } | undefined {
  const a = address.trim();
  const at = a.lastIndexOf('@');
  return at < 0 ? undefined : { local: a.slice(0, at), domain: a.slice(at + 1) };
}

/**
 * A domain as lower-case A-labels (IDNA2008 ToASCII without its validity checks, RFC 5891 §5): each
 * label NFC-normalised (canonically equivalent text is the same text: "u" + U+0308 is "ü") and
 * lower-cased character by character (no Final_Sigma: "Σ" is "σ", never "ς"), and one that is not ASCII Punycode-encoded with "xn--" (RFC 3492). After NFC no
 * non-ASCII character lower-cases into ASCII, so no look-alike folds into an ASCII name. A label
 * longer than a label can be is kept as it is (it equals no A-label).
 */
export function domainToAscii(domain: string): string {
  return domain
    .split('.')
    .map((label) => {
      // Each character lower-cased alone: toLowerCase on the whole label applies Final_Sigma, making
      // "ΑΣ" the "ας" of another domain, where UTS #46 (and DNS) read "ασ".
      const lower = Array.from(label.normalize('NFC'), (c) => c.toLowerCase()).join('').normalize('NFC');
      if (/^[\x00-\x7f]*$/.test(lower)) return lower;
      const encoded = punycode(lower);
      return encoded === undefined ? lower : `xn--${encoded}`;
    })
    .join('.');
}

// RFC 3492 §5 parameters.
const BASE = 36;
const T_MIN = 1;
const T_MAX = 26;
const SKEW = 38;
const DAMP = 700;
const INITIAL_BIAS = 72;
const INITIAL_N = 0x80;
/** RFC 5890 §2.3.2.1: a label is at most 63 octets; anything longer is not encoded (and bounds the work). */
const MAX_LABEL = 63;

function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : delta >> 1;
  d += Math.floor(d / points);
  let k = 0;
  while (d > ((BASE - T_MIN) * T_MAX) >> 1) {
    d = Math.floor(d / (BASE - T_MIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - T_MIN + 1) * d) / (d + SKEW));
}

const digit = (d: number) => String.fromCharCode(d < 26 ? 0x61 + d : 0x30 + d - 26);

/** RFC 3492 §6.3 encoding of one label (code points), or undefined when it is longer than a label can be. */
function punycode(label: string): string | undefined {
  const input = [...label].map((c) => c.codePointAt(0)!);
  if (input.length > MAX_LABEL) return undefined;
  let out = input.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join('');
  const basic = out.length;
  let handled = basic;
  if (basic > 0) out += '-';
  let n = INITIAL_N;
  let delta = 0;
  let bias = INITIAL_BIAS;
  while (handled < input.length) {
    const m = Math.min(...input.filter((c) => c >= n));
    delta += (m - n) * (handled + 1);
    n = m;
    for (const c of input) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = BASE; ; k += BASE) {
        const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
        if (q < t) break;
        out += digit(t + ((q - t) % (BASE - t)));
        q = Math.floor((q - t) / (BASE - t));
      }
      out += digit(q);
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return out;
}
