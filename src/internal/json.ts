import { MailPkiError } from '../errors.js';

/**
 * A copy of a value as `JSON.parse(JSON.stringify(value))` makes it, without the text in between:
 * toJSON called, non-finite numbers (and -0) as JSON writes them, undefined / functions / symbols left
 * out of objects and null in arrays, own enumerable string keys in their order. `omit(key, value)`
 * drops an object's field as a JSON.stringify replacer returning undefined would — but keeps
 * JSON.stringify's fast path (a replacer function makes V8 take its slow one). For plain data
 * (verdicts, results): a cycle or a BigInt is ERR_INVALID_INPUT (where JSON throws a TypeError).
 */
export function copyAsJson(value: unknown, omit?: (key: string, value: unknown) => boolean): unknown {
  return copy('', value, omit, 0);
}

/** Deeper than any verdict or result (a cycle, or a value this copy is not for): ERR_INVALID_INPUT before the stack runs out. */
const MAX_DEPTH = 1_000;

/**
 * Whether arrays and objects in `value` nest deeper than `max` (default copyAsJson's bound), found
 * without recursion: a value read back from storage (JSON.parse takes any depth) that JSON.stringify
 * or structuredClone would fail on with a RangeError.
 */
export function nestedDeeperThan(value: unknown, max = MAX_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

function copy(key: string, value: unknown, omit: ((key: string, value: unknown) => boolean) | undefined, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new MailPkiError('ERR_INVALID_INPUT', 'a value to copy as JSON is nested too deeply (a cycle?)');
  // As JSON: toJSON of any object (a function too) or BigInt, read once.
  if (value !== null && (typeof value === 'object' || typeof value === 'function' || typeof value === 'bigint')) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : null;
    case 'bigint':
      throw new MailPkiError('ERR_INVALID_INPUT', 'a value to copy as JSON holds a BigInt, which has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) return copy(key, value.valueOf(), omit, depth);
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = copy(String(i), value[i], omit, depth + 1);
      out[i] = v === undefined ? null : v;
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value as object)) {
    const raw = (value as Record<string, unknown>)[k];
    if (omit?.(k, raw)) continue;
    const v = copy(k, raw, omit, depth + 1);
    if (v === undefined) continue;
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}
