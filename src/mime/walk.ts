/** Navigating a parsed MIME tree. */
import type { MimeEntity } from './entity.js';

/** Every entity of the tree, depth-first in message order, the root first. */
export function* walkEntities(root: MimeEntity): Generator<MimeEntity> {
  // An explicit stack: the tree may be as deep as the configured limit allows.
  const stack: MimeEntity[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    yield e;
    for (let i = e.children.length - 1; i >= 0; i--) stack.push(e.children[i]!);
  }
}

/** The entity at `path` ([] is the root), or undefined. */
export function findEntity(root: MimeEntity, path: readonly number[]): MimeEntity | undefined {
  let e: MimeEntity | undefined = root;
  for (const i of path) {
    e = e.children[i];
    if (!e) return undefined;
  }
  return e;
}
