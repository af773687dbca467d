/**
 * Look-alike domains: a label written entirely in Cyrillic (or Greek) letters that each look like a
 * Latin one — "раураӏ.com", A-label xn--80aa0cbo65f.com, reads as paypal.com — or one that mixes Latin,
 * Cyrillic and Greek letters, a look-alike among them — "аpple.com" with a Cyrillic "а", A-label
 * xn--pple-43d.com. The first is in one script, so nothing about mixing scripts flags it (shownAs);
 * the second is bound to its own A-label like any other. Either way a client that shows U-labels shows
 * what reads as a Latin name.
 *
 * Whole-script: the rule and the data are Chromium's IDN spoof checker (IDNSpoofChecker::SafeToDisplayAsUnicode, the
 * kWholeScriptConfusables table, IsLabelWholeScriptConfusableForScript, IsWholeScriptConfusableAllowedForTLD,
 * kAllowedWholeScriptConfusableWords), components/url_formatter/spoof_checks/idn_spoof_checker.cc at
 * chromium/chromium 58a4b28c5469c43918658f893252391c286c74ab
 * (https://chromium.googlesource.com/chromium/src/+/58a4b28c5469c43918658f893252391c286c74ab/components/url_formatter/spoof_checks/idn_spoof_checker.cc):
 * a label in one script (Common and Inherited characters, combining marks and non-letters aside) whose letters of that script are all
 * among the script's Latin look-alikes is unsafe, unless its top-level domain is one of the script's
 * ccTLDs or has a letter of that script, or the label is one of a few common words. Only the Cyrillic
 * and Greek rows of that table are taken here (Chromium has Armenian, Ethiopic, Georgian, Hebrew, Indic,
 * Myanmar and Thai rows too). Unlike Chromium, a label with combining marks (U+0300–U+0339) is checked
 * too: Chromium leaves those to its top-domain skeleton check, which this library does not have.
 *
 * Mixed scripts: Chromium shows any label mixing Latin with Cyrillic or Greek (and Cyrillic with Greek)
 * as its A-label (UTS #39 §5.2 "moderately restrictive" allows Latin with one other script, Cyrillic
 * and Greek excepted); so is any such label here, whatever the TLD (registries refuse mixed-script
 * labels: a legitimate one is hardly to be met), the Latin look-alikes below read as Latin.
 *
 * Each look-alike's Latin reading (for the message a person reads) is its UTS #39 confusables.txt
 * skeleton (https://www.unicode.org/Public/security/10.0.0/confusables.txt, read as tabulated in
 * luau-lang/luau Ast/src/Confusables.cpp: а с ԁ е һ і ј о р ԛ ѕ ԝ х у ҽ г ѵ ѡ, α ι ν ο ρ υ), or the
 * capital's where only it has one (Ы → bl; Ю → lO, read io in lower case), or where it has none or a
 * non-letter the one Chromium's skeleton generator adds
 * (components/url_formatter/spoof_checks/skeleton_generator.cc: к → k, п → n, ь → b, ԍ → g, ӏ → l rather
 * than i, κ → k, ω → w); ъ, ԗ, η and τ, which neither maps, are read by hand (b, p, n, t). Two letters
 * are added to Chromium's sets: ү (Cyrillic straight u) and ϳ (Greek yot), which confusables.txt maps to
 * y and j and which Chromium leaves to its top-domain skeleton check (so "үahoo", "ϳpmorgan" are found).
 *
 * Capital letters: a From field is shown as written, not lower-cased, and Cyrillic and Greek capitals
 * that read as Latin capitals are look-alikes there (НЅВС.com, Cyrillic, reads as HSBC.com; in lower
 * case "нѕвс" reads as nothing Latin): the sets hold those capitals too, and the domain is also read in
 * the case it is written in.
 *
 * A domain is read twice: as written, and as UTS #46 maps it before decoding (NFKC, the characters it
 * ignores — soft hyphen, zero-width space… — removed, the ideographic full stops made dots), for
 * "xn--80aa0cbo65f。com" or "ｘｎ--80aa0cbo65f.com", which WHATWG URL (Node's url.domainToUnicode) shows
 * as "раураӏ.com". Either reading's look-alike counts. And an A-label that decodes to ASCII alone
 * ("xn--paypal-.com"), which those decoders show as "paypal.com", is one too (asciiALabel).
 */
import { asciiALabel, decodeALabel, domainToAscii, domainToUnicode } from '../internal/mailbox.js';

export interface LatinLookalike {
  /** The domain as a client that shows U-labels shows it (lower case, NFC). */
  readonly shown: string;
  /** The domain as A-labels (lower case): what the mailbox binding compares. */
  readonly ascii: string;
  /** What a reader may take it for: each look-alike label's letters replaced by the Latin letters they look like. */
  readonly reads: string;
  /** The scripts of the look-alike labels, in the order of the labels ('Cyrillic', 'Greek'; 'Latin' for a mixed label with Latin letters). */
  readonly scripts: readonly string[];
  /** A look-alike label mixes scripts (else each is wholly in one). */
  readonly mixed: boolean;
  /**
   * A label is an A-label that decodes to ASCII alone ("xn--paypal-"): no valid A-label does, yet
   * punycode.js and WHATWG URL (Node's url.domainToUnicode) show it as that name ("paypal"). Only when so.
   */
  readonly asciiALabel?: true;
}

interface WholeScript {
  readonly name: string;
  /** A letter of the script ([[:Cyrl:]], the Script property, as Chromium's all_letters). */
  readonly letter: RegExp;
  /** Each Latin look-alike of the script (Chromium's latin_lookalike_letters) and its Latin reading. */
  readonly latin: ReadonlyMap<string, string>;
  /** The ASCII TLDs under which the script's look-alike labels are allowed (Chromium's allowed_tlds). */
  readonly tlds: ReadonlySet<string>;
}

const WHOLE_SCRIPTS: readonly WholeScript[] = [
  {
    name: 'Cyrillic',
    letter: /\p{Script=Cyrillic}/u,
    // Chromium: [аысԁеԍһіюкјӏорԗԛѕԝхуъьҽпгѵѡ]
    latin: new Map([
      ['\u0430', 'a'], ['\u044B', 'bl'], ['\u0441', 'c'], ['\u0501', 'd'], ['\u0435', 'e'], ['\u050D', 'g'], ['\u04BB', 'h'],
      ['\u0456', 'i'], ['\u044E', 'io'], ['\u043A', 'k'], ['\u0458', 'j'], ['\u04CF', 'l'], ['\u043E', 'o'], ['\u0440', 'p'],
      ['\u0517', 'p'], ['\u051B', 'q'], ['\u0455', 's'], ['\u051D', 'w'], ['\u0445', 'x'], ['\u0443', 'y'], ['\u044A', 'b'],
      ['\u044C', 'b'], ['\u04BD', 'e'], ['\u043F', 'n'], ['\u0433', 'r'], ['\u0475', 'v'], ['\u0461', 'w'],
      // Not Chromium's: ү (straight u), a y to a reader (confusables.txt: ү → y).
      ['\u04AF', 'y'],
      // Not Chromium's (a URL is shown lower-cased; a From field as written): the capitals that read as Latin capitals (confusables.txt).
      ['\u0410', 'A'], ['\u0412', 'B'], ['\u0421', 'C'], ['\u0415', 'E'], ['\u041D', 'H'], ['\u0406', 'I'], ['\u04C0', 'I'],
      ['\u0408', 'J'], ['\u041A', 'K'], ['\u041C', 'M'], ['\u041E', 'O'], ['\u0420', 'P'], ['\u051A', 'Q'], ['\u0405', 'S'],
      ['\u0422', 'T'], ['\u0474', 'V'], ['\u051C', 'W'], ['\u0425', 'X'], ['\u0423', 'Y'], ['\u04AE', 'Y'], ['\u050C', 'G'],
    ]),
    // "TLDs containing most of the Cyrillic domains."
    tlds: new Set(['bg', 'by', 'kz', 'pyc', 'ru', 'su', 'ua', 'uz']),
  },
  {
    name: 'Greek',
    letter: /\p{Script=Greek}/u,
    // Chromium: [αικνρυωηοτ] ("This ignores variants such as ά, έ, ή, ί.")
    latin: new Map([
      ['\u03B1', 'a'], ['\u03B9', 'i'], ['\u03BA', 'k'], ['\u03BD', 'v'], ['\u03C1', 'p'],
      ['\u03C5', 'u'], ['\u03C9', 'w'], ['\u03B7', 'n'], ['\u03BF', 'o'], ['\u03C4', 't'],
      // Not Chromium's: ϳ (yot), a j to a reader (confusables.txt: ϳ → j).
      ['\u03F3', 'j'],
      // Not Chromium's: the capitals that read as Latin capitals (confusables.txt), for a From field shown as written.
      ['\u0391', 'A'], ['\u0392', 'B'], ['\u0395', 'E'], ['\u0396', 'Z'], ['\u0397', 'H'], ['\u0399', 'I'], ['\u037F', 'J'],
      ['\u039A', 'K'], ['\u039C', 'M'], ['\u039D', 'N'], ['\u039F', 'O'], ['\u03A1', 'P'], ['\u03A4', 'T'], ['\u03A5', 'Y'],
      ['\u03A7', 'X'],
    ]),
    tlds: new Set(['gr']),
  },
];

// Chromium: "common words that are whole script confusables. They aren't confusable with any words in Latin scripts."
const ALLOWED_WORDS = new Set(['секс', 'как', 'коса', 'курс', 'парк', 'такий', 'укроп', 'сахарок', 'покраска']);

// Combining marks too: a few are Script=Cyrillic (U+0483 titlo, U+2DE0–U+2DFF), not Inherited, and would otherwise
// hide a look-alike label (раураӏ҃) as a mark of Inherited script does not. And whatever is no letter (\P{L}): a
// symbol of another script, such as U+2800 BRAILLE PATTERN BLANK (Script=Braille, shown blank), reads as no letter.
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}\p{M}\P{L}]/u;

/** The script whose Latin look-alikes the label is made of (Common and Inherited characters, combining marks and non-letters aside), if any. One pass, a constant test per character. */
function lookalikeScript(label: string): WholeScript | undefined {
  if (/^[\x00-\x7f]*$/.test(label)) return undefined;
  let script: WholeScript | undefined;
  for (const c of label) {
    if (script?.latin.has(c) || NEUTRAL.test(c)) continue;
    // A letter of another script (Latin too) or no look-alike: the label is not a whole-script look-alike.
    if (script) return undefined;
    // The first letter: a look-alike of one script (the sets are disjoint), or none.
    script = WHOLE_SCRIPTS.find((s) => s.latin.has(c));
    if (!script) return undefined;
  }
  return script;
}

const LATIN_LETTER = /\p{Script=Latin}/u;

/**
 * A label that mixes Latin, Cyrillic and Greek letters (Common and Inherited characters, combining marks and non-letters aside),: its
 * scripts in the order met, Latin as undefined. Any such mix, as Chromium refuses any (gσσgle, γahoo: σ and γ
 * are in no look-alike set, yet a reader takes them for o and y). One pass.
 */
function mixedScripts(label: string): (WholeScript | undefined)[] | undefined {
  if (/^[\x00-\x7f]*$/.test(label)) return undefined;
  const scripts: (WholeScript | undefined)[] = [];
  for (const c of label) {
    if (NEUTRAL.test(c)) continue;
    const script = LATIN_LETTER.test(c) ? undefined : WHOLE_SCRIPTS.find((s) => s.letter.test(c));
    // A letter of another script (Arabic, Han…): not a mix of these.
    if (script === undefined && !LATIN_LETTER.test(c)) return undefined;
    if (!scripts.includes(script)) scripts.push(script);
  }
  return scripts.length >= 2 ? scripts : undefined;
}

/**
 * One sentence on a look-alike domain, for a warning or a refusal: "раураӏ.com (xn--80aa0cbo65f.com) is written in
 * Cyrillic letters that look Latin: a reader may take it for paypal.com".
 */
export function describeLatinLookalike(lookalike: LatinLookalike): string {
  const scripts = lookalike.scripts.join(' and ');
  const how = lookalike.mixed
    ? `mixes ${scripts} letters: a reader may take it for`
    : scripts
      ? `is written in ${scripts} letters that look Latin: a reader may take it for`
      : 'has an A-label that decodes to ASCII alone, which no valid A-label does: a client that decodes it shows';
  return `${lookalike.shown} (${lookalike.ascii}) ${how} ${lookalike.reads}`;
}

/**
 * The domain's Latin look-alike labels (see the module comment): wholly in Cyrillic or Greek
 * look-alikes, as Chromium's IDN spoof checker finds them, or mixing Latin, Cyrillic and Greek letters;
 * with what a reader may take the domain for. Undefined when it has none. A-labels are decoded first
 * (a client may show `xn--80aa0cbo65f.com` as "раураӏ.com"). Linear in the domain.
 *
 * @example latinLookalike('xn--80aa0cbo65f.com')?.reads // 'paypal.com'
 * @example latinLookalike('xn--pple-43d.com')?.reads // 'apple.com' (mixed: a Cyrillic "а")
 *
 * With `everyLabel`, Chromium's exemptions do not apply: a whole-script label under one of the
 * script's TLDs or under a TLD with a letter of the script (the TLD itself among them: "example.со",
 * Cyrillic "со", reads as example.co), and the common words, are read too. For comparing with names
 * one means (a filter rule's `from`): there a legitimate label counts only when it reads as such a name.
 *
 * @example latinLookalike('уапԁех.ru', { everyLabel: true })?.reads // 'yandex.ru' (without: undefined, Cyrillic under .ru)
 */
export function latinLookalike(domain: string, options: { everyLabel?: boolean } = {}): LatinLookalike | undefined {
  // ASCII with no A-label (nearly every From, on the filter's path twice per message): nothing to read. UTS #46 maps no
  // ASCII character, and an ASCII label is neither a look-alike nor a mix.
  if (/^[\x00-\x7f]*$/.test(domain) && !/(^|\.)xn--/i.test(domain)) return undefined;
  const every = options.everyLabel === true;
  const mapped = uts46Mapped(domain);
  // Of the readings that find one, the one whose Latin reading keeps the fewest Cyrillic and Greek letters
  // (нsbc in lower case, Hsbc as written), the first of those.
  const readings = [lookalikeAsShown(domain, false, every), lookalikeAsShown(domain, true, every), mapped === domain ? undefined : lookalikeAsShown(mapped, false, every)];
  const unread = (l: Omit<LatinLookalike, 'ascii'>) => l.reads.match(UNREAD)?.length ?? 0;
  const found = readings.reduce<Omit<LatinLookalike, 'ascii'> | undefined>((best, l) => (l && (!best || unread(l) < unread(best)) ? l : best), undefined);
  // Shown as a client shows it; bound as written (xn---80aa0cbo65f is shown as раураӏ, bound as itself).
  return found && { ...found, ascii: domainToAscii(domain) };
}

const UNREAD = /[\p{Script=Cyrillic}\p{Script=Greek}]/gu;

// Characters UTS #46 maps to nothing (a superset: every format character and default-ignorable code point).
const IGNORED = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/** The domain roughly as UTS #46 maps it before it decodes A-labels: NFKC, ignored characters removed, ideographic full stops as dots. Linear. */
const uts46Mapped = (domain: string) => domain.normalize('NFKC').replace(IGNORED, '').replace(/\u3002/g, '.');

/**
 * The look-alike labels of the domain as a client shows it: A-labels decoded, lower case (as a URL is
 * shown); or, with `asWritten`, in the case the labels are written in, or an A-label's code points are
 * (a client shows a From field as written: "НЅВС.com", all Cyrillic capitals, reads as HSBC.com though
 * "нѕвс" reads as nothing Latin; punycode.js shows "xn--0za0a5as.com" as "НЅВС.com").
 */
function lookalikeAsShown(domain: string, asWritten = false, everyLabel = false): Omit<LatinLookalike, 'ascii'> | undefined {
  const shown = asWritten ? domain.split('.').map((label) => decodeALabel(label) ?? label.normalize('NFC')).join('.') : domainToUnicode(domain);
  const labels = shown.split('.');
  // The top-level domain (of a name with a final dot, the label before it).
  const tld = (labels[labels.length - 1] === '' && labels.length > 1 ? labels[labels.length - 2] : labels[labels.length - 1]) ?? '';
  const tldAscii = domainToAscii(tld);
  const scripts: string[] = [];
  let mixed = false;
  let fake = false;
  const read = (label: string, found: readonly (WholeScript | undefined)[]) => {
    for (const s of found) if (!scripts.includes(s?.name ?? 'Latin')) scripts.push(s?.name ?? 'Latin');
    return Array.from(label, (c) => found.find((s) => s?.latin.has(c))?.latin.get(c) ?? c)
      .join('')
      .normalize('NFC');
  };
  const reads = labels.map((label) => {
    const ascii = asciiALabel(label);
    if (ascii !== undefined) {
      fake = true;
      return ascii;
    }
    const script = lookalikeScript(label);
    if (script) return !everyLabel && (ALLOWED_WORDS.has(label) || script.tlds.has(tldAscii) || script.letter.test(tld)) ? label : read(label, [script]);
    const found = mixedScripts(label);
    if (!found) return label;
    mixed = true;
    return read(label, found);
  });
  if (scripts.length === 0 && !fake) return undefined;
  return { shown, reads: reads.join('.'), scripts, mixed, ...(fake ? { asciiALabel: true as const } : {}) };
}
