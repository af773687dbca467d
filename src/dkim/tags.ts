/** The tag=value lists of DKIM-Signature fields and key records (RFC 6376 §3.2), parsed strictly. */

export interface Tag {
  readonly value: string;
  /** Offsets of the value (FWS around it excluded) in the parsed text. */
  readonly start: number;
  readonly end: number;
}

export type TagList = ReadonlyMap<string, Tag>;

const isFws = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 10;
const TAG_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Parses `tag-list = tag-spec *( ";" tag-spec ) [ ";" ]`. Returns a reason string on a syntax
 * error (unknown characters, a tag given twice, an empty tag-spec) so callers can turn it into
 * their own result or error.
 */
export function parseTagList(text: string): TagList | string {
  const tags = new Map<string, Tag>();
  let pos = 0;
  while (pos <= text.length) {
    let semi = text.indexOf(';', pos);
    if (semi < 0) semi = text.length;
    let a = pos;
    let b = semi;
    while (a < b && isFws(text.charCodeAt(a))) a++;
    while (b > a && isFws(text.charCodeAt(b - 1))) b--;
    if (a === b) {
      // Only the optional ";" at the very end may be followed by nothing.
      if (semi === text.length && (tags.size > 0 || pos === 0)) break;
      return 'empty tag-spec';
    }
    const eq = text.indexOf('=', a);
    if (eq < 0 || eq >= b) return `tag-spec without "=" near "${text.slice(a, Math.min(b, a + 20))}"`;
    let ne = eq;
    while (ne > a && isFws(text.charCodeAt(ne - 1))) ne--;
    const name = text.slice(a, ne);
    if (!TAG_NAME.test(name)) return `bad tag name "${name.slice(0, 20)}"`;
    let vs = eq + 1;
    while (vs < b && isFws(text.charCodeAt(vs))) vs++;
    for (let i = vs; i < b; i++) {
      const c = text.charCodeAt(i);
      if (isFws(c)) continue;
      if (c < 0x21 || c > 0x7e || c === 0x3b) return `bad character in the value of ${name}=`;
    }
    if (tags.has(name)) return `tag ${name}= given twice`;
    tags.set(name, { value: text.slice(vs, b), start: vs, end: b });
    if (semi === text.length) break;
    pos = semi + 1;
  }
  return tags;
}

/** A tag value with all folding white space removed (b=, bh=, p=, h=). */
export function stripFws(value: string): string {
  return value.replace(/[ \t\r\n]+/g, '');
}
