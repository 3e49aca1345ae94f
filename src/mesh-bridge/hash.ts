// The hash behind consistent-hash balancing (ring hash, Maglev) and sticky
// weighted splits. Envoy uses xxHash64; what matters to both users is that the
// output is well mixed and identical in every process and worker, so a key lands
// on the same endpoint wherever it is served. A 32-bit result keeps all the
// arithmetic in Math.imul and typed arrays (no BigInt on the request path).

const FNV_OFFSET_BASIS = 0x811c9dc5
const FNV_PRIME = 0x01000193
const GOLDEN_GAMMA = 0x9e3779b1

/** Unsigned 32-bit hash of `s` (UTF-16 code units); the same in every process. */
export function hashString (s: string): number {
  return hashStringSeeded(s, 0)
}

/**
 * hashString with a seed, for independent hash families over the same input:
 * Maglev derives each endpoint's offset and skip from two of them.
 */
export function hashStringSeeded (s: string, seed: number): number {
  let h = FNV_OFFSET_BASIS ^ Math.imul(seed, GOLDEN_GAMMA)
  const n = s.length
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  }
  // FNV-1a's multiply carries a difference only towards the high bits, so keys
  // that differ in their last character ("10.0.0.1:80_7" vs "_8", "user-41" vs
  // "user-42") end up with patterned low bits. Ring positions and `% n` splits
  // need every bit mixed, which murmur3's fmix32 finalizer does.
  h ^= n
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
