// Writes made while one turn of the event loop handles its ready sockets are
// held until the turn's check phase, then sent together: each socket still
// gets its own write, but they leave back to back instead of one per request
// handled. A peer process that was asleep is woken once for the batch rather
// than once per write (on a virtual machine each wake-up is an interrupt to
// another CPU, 12 % of meshgate's CPU in a profile of the plain benchmark),
// and the peer then reads the batch in one go. Measured: ~15 % less CPU per
// proxied request (bench/HISTORY.md, "Writes of one event-loop turn leave
// together").
//
// A held write waits at most for the rest of the turn (the sockets that were
// ready together, never a timer), and at most for MAX_HELD other sockets: under
// overload one turn can handle a thousand ready sockets, and the first answer
// should not wait for all of them.
import type { Socket } from 'node:net'

const held: Socket[] = []
const MAX_HELD = 64

function releaseAll (): void {
  // A socket corked twice (by node:http too) stays corked until both release it.
  for (let i = 0; i < held.length; i++) held[i]!.uncork()
  held.length = 0
}

/**
 * Holds this socket's writes until the current event-loop turn has handled
 * its other ready sockets. Idempotent within a turn.
 */
export function holdWrites (socket: Socket): void {
  if (socket.writableCorked > 0 || socket.destroyed) return
  if (held.length === MAX_HELD) releaseAll()
  socket.cork()
  held.push(socket)
  if (held.length === 1) setImmediate(releaseAll)
}

// Answers to clients: the first answer of a turn leaves at once, so a lone
// request under light load waits for nothing; later answers of the same turn
// are held and leave together at its end (at most MAX_ANSWERS_HELD at a time),
// so a busy turn wakes a sleeping client process about twice rather than once
// per answer. It pays where turns are long (the full-stack benchmark) and
// costs latency inside a burst: bench/HISTORY.md has both figures.
let answeredThisTurn = 0
let answersHeld = 0
const MAX_ANSWERS_HELD = 16

function newTurn (): void {
  answeredThisTurn = 0
  answersHeld = 0
}

/** Called as an answer's first bytes are written to `socket`. */
export function holdAfterFirst (socket: Socket): void {
  if (answeredThisTurn++ === 0) { setImmediate(newTurn); return }
  if (socket.writableCorked > 0 || socket.destroyed) return
  if (answersHeld === MAX_ANSWERS_HELD) { releaseAll(); answersHeld = 0 }
  answersHeld++
  holdWrites(socket)
}
