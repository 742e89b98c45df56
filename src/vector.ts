/** Small vector helpers for embeddings. */
export function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The vector scaled to unit length (a zero vector stays zero). */
export function unit(v: readonly number[]): number[] {
  const norm = Math.sqrt(dot(v, v));
  return norm === 0 ? [...v] : v.map((x) => x / norm);
}
