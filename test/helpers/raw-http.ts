// Raw HTTP/1.x on a socket, for tests that need bytes no client library sends:
// pipelined requests, split heads, broken framing, slow senders.
import { connect, type Socket } from 'node:net'

export interface RawResult {
  /** Everything the server sent, as latin1 text. */
  text: string
  /** The server closed the connection. */
  closed: boolean
  ms: number
}

export interface RawOptions {
  /** Pause between chunks. */
  gapMs?: number
  /** Give up after this long (the result says whether the server closed). */
  waitMs?: number
  /** Resolve as soon as this holds for what has arrived (else on close or waitMs). */
  until?: (text: string) => boolean
  /** Half-close the connection after the last chunk. */
  end?: boolean
  /** Called before each chunk after the first, with what has arrived; may wait for it. */
  beforeNext?: (text: string, index: number) => Promise<void> | void
}

/** Writes `chunks` on a fresh connection to 127.0.0.1:`port` and collects the answer. */
export function rawExchange (port: number, chunks: ReadonlyArray<string | Buffer>, opts: RawOptions = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const s: Socket = connect(port, '127.0.0.1')
    let text = ''
    let closed = false
    let settled = false
    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      s.destroy()
      resolve({ text, closed, ms: Date.now() - started })
    }
    const timer = setTimeout(finish, opts.waitMs ?? 5_000)
    s.on('data', d => {
      text += d.toString('latin1')
      if (opts.until?.(text) === true) finish()
    })
    s.on('close', () => { closed = true; finish() })
    s.on('error', err => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && !settled) { settled = true; clearTimeout(timer); reject(err) } })
    s.on('connect', () => {
      let i = 0
      const next = async (): Promise<void> => {
        while (i < chunks.length && !s.destroyed) {
          if (i > 0 && opts.beforeNext !== undefined) await opts.beforeNext(text, i)
          if (i > 0 && opts.gapMs !== undefined) await new Promise(r => setTimeout(r, opts.gapMs))
          if (s.destroyed) return
          s.write(chunks[i++]!)
        }
        if (opts.end === true && !s.destroyed) s.end()
      }
      next().catch(reject)
    })
  })
}

/** The status codes of every answer head in `text`, in order (100 Continue included). */
export function statuses (text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map(m => Number(m[1]))
}
