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
 * A domain lower-cased character by character: toLowerCase on the whole text applies Final_Sigma, making "ΑΣ-1.gr"
 * the "ας-1.gr" of another domain, where UTS #46 (and DNS) read "ασ-1.gr". Every reader of a domain's case uses this.
 */
export function lowerCaseDomain(domain: string): string {
  return /^[\x00-\x7f]*$/.test(domain) ? domain.toLowerCase() : Array.from(domain, (c) => c.toLowerCase()).join('');
}

/** `local@domain` in lower case: the local part whole (toLowerCase), the domain character by character (lowerCaseDomain). */
export function lowerCaseAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address.toLowerCase() : `${address.slice(0, at).toLowerCase()}@${lowerCaseDomain(address.slice(at + 1))}`;
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
      const lower = lowerCaseDomain(label.normalize('NFC')).normalize('NFC');
      if (/^[\x00-\x7f]*$/.test(lower)) return lower;
      const encoded = punycode(lower);
      return encoded === undefined ? lower : `xn--${encoded}`;
    })
    .join('.');
}

/**
 * A domain as a reader is shown it (IDNA2008 ToUnicode without its validity checks, RFC 5891 §5.2):
 * each A-label ("xn--", any case) Punycode-decoded (RFC 3492 §6.2), each label then NFC-normalised and
 * lower-cased character by character as domainToAscii reads it. An A-label that does not decode (a
 * bad digit, an overflow, a surrogate or a code point beyond U+10FFFF, longer than a label can be) or
 * that decodes to ASCII alone is kept as it is: a client shows it so. Decoding is lenient otherwise
 * (an A-label of upper-case letters decodes, and is lower-cased; a delimiter at the start of the
 * Punycode is skipped, as WHATWG URL's decoder skips it: "xn---80aa0cbo65f" shows as "раураӏ"): for
 * finding what a lenient client may show, not for deciding what a valid name is.
 *
 * @example domainToUnicode('pay.xn--80aa0cbo65f.com') // 'pay.раураӏ.com' (all Cyrillic)
 */
export function domainToUnicode(domain: string): string {
  return domain
    .split('.')
    .map((label) => {
      const text = decodeALabel(label) ?? label;
      // Lower-cased as domainToAscii lowers a label (lowerCaseDomain: no Final_Sigma).
      return lowerCaseDomain(text.normalize('NFC')).normalize('NFC');
    })
    .join('.');
}

/**
 * The text an A-label ("xn--", any case) decodes to, in the case its code points are in (punycode.js shows
 * "xn--0za0a5as" as "НЅВС", capitals), NFC; undefined when it does not decode or decodes to ASCII alone.
 */
export function decodeALabel(label: string): string | undefined {
  const decoded = decodeXn(label);
  return decoded !== undefined && /[^\x00-\x7f]/.test(decoded) ? decoded.normalize('NFC') : undefined;
}

/**
 * The ASCII an A-label ("xn--", any case) decodes to when it decodes to ASCII alone, lower-cased
 * ("xn--paypal-" → "paypal"), else undefined (also when empty). No valid A-label does (RFC 5891 §5.4), and
 * domainToUnicode keeps such a label as it is; yet lenient decoders (punycode.js, WHATWG URL: Node's
 * url.domainToUnicode) show it as that ASCII name.
 */
export function asciiALabel(label: string): string | undefined {
  const decoded = decodeXn(label);
  return decoded && /^[\x00-\x7f]+$/.test(decoded) ? decoded : undefined;
}

/** What a label starting "xn--" (any case) decodes to, whatever it decodes to; undefined for another label or one that does not decode. */
const decodeXn = (label: string) => (/^xn--/i.test(label) ? decodePunycode(label.slice(4).toLowerCase()) : undefined);

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

const digitValue = (c: number) => (c >= 0x61 && c <= 0x7a ? c - 0x61 : c >= 0x30 && c <= 0x39 ? c - 0x30 + 26 : -1);
/** Larger than any index into a label of MAX_LABEL code points can be: past it the input is garbage (and the sum stays exact). */
const MAX_DELTA = 0x7fffffff;

/**
 * RFC 3492 §6.2 decoding of one label's Punycode (without "xn--", lower case), or undefined when it is
 * not Punycode: a bad digit, an overflow, a surrogate or a code point beyond U+10FFFF, more than
 * MAX_LABEL characters in or out (which bounds the work: at most 63 insertions into at most 63).
 */
function decodePunycode(input: string): string | undefined {
  if (input.length > MAX_LABEL) return undefined;
  const dash = input.lastIndexOf('-');
  const out: number[] = [];
  for (let j = 0; j < Math.max(dash, 0); j++) {
    const c = input.charCodeAt(j);
    if (c >= 0x80) return undefined;
    out.push(c);
  }
  let n = INITIAL_N;
  let i = 0;
  let bias = INITIAL_BIAS;
  // RFC 3492 reads a delimiter at the start as a digit (and fails); WHATWG URL's decoder (Node's
  // url.domainToUnicode) skips it, showing "xn---80aa0cbo65f" as "раураӏ": the lenient reading.
  for (let pos = dash + 1; pos < input.length; ) {
    const old = i;
    let w = 1;
    for (let k = BASE; ; k += BASE) {
      if (pos >= input.length) return undefined;
      const d = digitValue(input.charCodeAt(pos++));
      if (d < 0 || d * w > MAX_DELTA - i) return undefined;
      i += d * w;
      const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
      if (d < t) break;
      if (w > MAX_DELTA / (BASE - t)) return undefined;
      w *= BASE - t;
    }
    const points = out.length + 1;
    bias = adapt(i - old, points, old === 0);
    n += Math.floor(i / points);
    i %= points;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff) || out.length >= MAX_LABEL) return undefined;
    out.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...out);
}
