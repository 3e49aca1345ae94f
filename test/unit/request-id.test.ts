import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requestId } from '../../src/gateway/dataplane/request-id.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

test('request ids are version 4 UUIDs, distinct across refills of the random pool', () => {
  const seen = new Set<string>()
  // 256 ids per fill of the random bytes: 2,000 ids cross several refills.
  for (let i = 0; i < 2_000; i++) {
    const id = requestId()
    assert.match(id, UUID_V4)
    seen.add(id)
  }
  assert.equal(seen.size, 2_000)
})

test('request ids use every hex digit in every free position', () => {
  // A formatting slip (a digit position never written, a nibble dropped) would
  // leave a position stuck; over 4,000 ids each free position shows many values.
  const values = Array.from({ length: 36 }, () => new Set<string>())
  for (let i = 0; i < 4_000; i++) {
    const id = requestId()
    for (let j = 0; j < 36; j++) values[j]!.add(id[j]!)
  }
  for (let j = 0; j < 36; j++) {
    if (j === 8 || j === 13 || j === 18 || j === 23) assert.deepEqual([...values[j]!], ['-'])
    else if (j === 14) assert.deepEqual([...values[j]!], ['4'])
    else if (j === 19) assert.equal(values[j]!.size, 4, 'variant digit is one of 8, 9, a, b')
    else assert.equal(values[j]!.size, 16, `position ${j}`)
  }
})
