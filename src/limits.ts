/** Small limits shared by the families: how deep a JSON value nests, measured without recursion. */

/** JSON Schemas (and action files) nest far less than this; recursive code (schema compilers, grammar builders) overflows far beyond it. */
export const MAX_JSON_DEPTH = 64;

/**
 * The nesting depth of a JSON value (a scalar is 0, [] and {} are 1), or Infinity as soon as it passes `limit`:
 * iterative, so a value nested a million levels deep costs no stack and is measured only as far as the limit.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  if (value === null || typeof value !== "object") return 0;
  // The usual tool arguments: one object of scalars, measured without allocating (see `npm run bench -- noop`).
  if (!Array.isArray(value) && !hasObjectValue(value)) return limit >= 1 ? 1 : Infinity;
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    const here = depth + 1;
    if (here > limit) return Infinity;
    if (here > deepest) deepest = here;
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, here]);
  }
  return deepest;
}

function hasObjectValue(object: object): boolean {
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const child = (object as Record<string, unknown>)[key];
    if (child !== null && typeof child === "object") return true;
  }
  return false;
}
