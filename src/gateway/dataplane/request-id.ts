// x-request-id values: random (version 4) UUIDs, as Envoy generates them.
// crypto.randomUUID builds each string from sixteen concatenated pieces; here
// the random bytes come 256 ids at a time from the same CSPRNG and the text is
// written into a scratch buffer, so an id costs one 36-character string.
import { randomFillSync } from 'node:crypto'

const IDS_PER_FILL = 256
const random = Buffer.allocUnsafe(16 * IDS_PER_FILL)
let nextId = IDS_PER_FILL
const text = Buffer.alloc(36, 45 /* - */)
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** A new random UUID (RFC 9562 version 4), lower-case. */
export function requestId (): string {
  if (nextId === IDS_PER_FILL) {
    randomFillSync(random)
    nextId = 0
  }
  const r = nextId++ * 16
  let o = 0
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) o++ // the dashes stay where Buffer.alloc put them
    let b = random[r + i]!
    if (i === 6) b = (b & 0x0f) | 0x40 // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80 // variant 10
    text[o++] = HEX[b >> 4]!
    text[o++] = HEX[b & 15]!
  }
  return text.toString('latin1', 0, 36)
}
