// Writes held until the end of the event-loop turn: they leave together, in
// order, and nothing is held past the turn.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net, { type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { holdAfterFirst, holdWrites } from '../../src/mesh-bridge/write-batch.js'

async function pair (): Promise<{ client: net.Socket, server: net.Socket, received: () => string, close: () => void }> {
  const listener = net.createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const accepted = once(listener, 'connection')
  const client = net.connect((listener.address() as AddressInfo).port, '127.0.0.1')
  await once(client, 'connect')
  const [server] = await accepted as [net.Socket]
  let text = ''
  server.setEncoding('latin1')
  server.on('data', d => { text += d })
  return { client, server, received: () => text, close: () => { client.destroy(); server.destroy(); listener.close() } }
}

test('held writes stay in the socket until the turn ends, then leave in order', async () => {
  const a = await pair()
  const b = await pair()
  try {
    holdWrites(a.client)
    holdWrites(b.client)
    holdWrites(a.client) // twice in one turn: still one hold
    a.client.write('one ')
    b.client.write('other')
    a.client.write('two')
    assert.equal(a.client.writableLength, 7, 'nothing written before the turn ends')
    assert.equal(b.client.writableLength, 5)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(a.client.writableLength, 0, 'released in the check phase of the same turn')
    assert.equal(a.client.writableCorked, 0)
    assert.equal(b.client.writableLength, 0)
    const deadline = Date.now() + 2_000
    while ((a.received() !== 'one two' || b.received() !== 'other') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(a.received(), 'one two')
    assert.equal(b.received(), 'other')
    // The next turn's writes are held again and released again.
    holdWrites(a.client)
    a.client.write('!')
    assert.equal(a.client.writableLength, 1)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(a.client.writableLength, 0)
  } finally {
    a.close()
    b.close()
  }
})

test('a batch holds at most 64 sockets: the 65th releases the ones before it', async () => {
  const pairs = await Promise.all(Array.from({ length: 65 }, () => pair()))
  try {
    for (const p of pairs.slice(0, 64)) { holdWrites(p.client); p.client.write('a') }
    assert.ok(pairs.slice(0, 64).every(p => p.client.writableLength === 1), '64 held')
    holdWrites(pairs[64]!.client)
    pairs[64]!.client.write('b')
    assert.ok(pairs.slice(0, 64).every(p => p.client.writableLength === 0 && p.client.writableCorked === 0), 'the first 64 released')
    assert.equal(pairs[64]!.client.writableLength, 1, 'the 65th starts the next batch')
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(pairs[64]!.client.writableLength, 0)
  } finally {
    for (const p of pairs) p.close()
  }
})

test('a socket someone else corked is left to them; a destroyed one is skipped', async () => {
  const a = await pair()
  try {
    a.client.cork()
    holdWrites(a.client)
    a.client.write('x')
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(a.client.writableCorked, 1, 'holdWrites added no cork of its own')
    a.client.uncork()
    assert.equal(a.client.writableLength, 0)
    a.client.destroy()
    holdWrites(a.client)
    assert.equal(a.client.writableCorked, 0)
  } finally {
    a.close()
  }
})

test('answers: the first of a turn leaves at once, later ones wait for the turn\'s end, 16 at most', async () => {
  const pairs = await Promise.all(Array.from({ length: 18 }, () => pair()))
  try {
    await new Promise(resolve => setImmediate(resolve)) // a turn of its own
    const answer = (i: number): void => { holdAfterFirst(pairs[i]!.client); pairs[i]!.client.write('x') }
    answer(0)
    assert.equal(pairs[0]!.client.writableLength, 0, 'the first answer is not held')
    for (let i = 1; i <= 16; i++) answer(i)
    assert.ok(pairs.slice(1, 17).every(p => p.client.writableLength === 1), 'the next 16 are held')
    answer(17)
    assert.ok(pairs.slice(1, 17).every(p => p.client.writableLength === 0), 'the 18th answer releases the 16 before it')
    assert.equal(pairs[17]!.client.writableLength, 1)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(pairs[17]!.client.writableLength, 0, 'released at the end of the turn')
    await new Promise(resolve => setImmediate(resolve))
    answer(1)
    assert.equal(pairs[1]!.client.writableLength, 0, 'a new turn: its first answer leaves at once')
  } finally {
    for (const p of pairs) p.close()
  }
})
