/**
 * A module the runtime has built in (node:crypto, node:dns, node:async_hooks — Node, Deno and Bun
 * have them), found through `process.getBuiltinModule` rather than imported, so the file asking
 * still loads in browsers and workers. Undefined where the runtime has no such module (or no
 * `process`), and where looking it up throws.
 */
export function runtimeBuiltin<T>(id: `node:${string}`): Partial<T> | undefined {
  const g = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  try {
    return g.process?.getBuiltinModule?.(id) as Partial<T> | undefined;
  } catch {
    return undefined;
  }
}
