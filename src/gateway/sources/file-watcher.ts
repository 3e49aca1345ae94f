// Watches config files and folders plus the cert files they name. Watching the
// parent folder (not the file) survives editors and Kubernetes volume updates
// that replace files by rename. Events are debounced; the reload itself
// compares content hashes, so a spurious event costs one read.
import { watch, statSync, type FSWatcher } from 'node:fs'
import { dirname, basename, resolve } from 'node:path'

export class FileWatcher {
  readonly #roots: readonly string[]
  readonly #delayMs: number
  readonly #onChange: () => void
  #files = new Set<string>()
  #watchers = new Map<string, FSWatcher>()
  #timer: NodeJS.Timeout | null = null
  #poll: NodeJS.Timeout | null = null

  constructor (roots: readonly string[], files: readonly string[], delayMs: number, onChange: () => void) {
    this.#roots = roots.map(r => resolve(r))
    this.#delayMs = delayMs
    this.#onChange = onChange
    this.#files = new Set(files.map(f => resolve(f)))
  }

  start (): void {
    this.#rewatch()
    // Safety net for filesystems without reliable events (network mounts).
    this.#poll = setInterval(() => this.#onChange(), 10_000)
    this.#poll.unref()
  }

  setFiles (files: readonly string[]): void {
    this.#files = new Set(files.map(f => resolve(f)))
    this.#rewatch()
  }

  stop (): void {
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#poll !== null) clearInterval(this.#poll)
  }

  #rewatch (): void {
    const wanted = new Map<string, { recursive: boolean, names: Set<string> | null }>()
    for (const r of this.#roots) {
      let isDir = false
      try { isDir = statSync(r).isDirectory() } catch { /* watch the parent until it appears */ }
      if (isDir) wanted.set(r, { recursive: true, names: null })
      else addName(wanted, dirname(r), basename(r))
    }
    for (const f of this.#files) {
      const dir = dirname(f)
      if ([...wanted.entries()].some(([d, w]) => w.recursive && (dir === d || dir.startsWith(`${d}/`)))) continue
      addName(wanted, dir, basename(f))
    }
    for (const [dir, w] of this.#watchers) {
      if (!wanted.has(dir)) { w.close(); this.#watchers.delete(dir) }
    }
    for (const [dir, spec] of wanted) {
      if (this.#watchers.has(dir)) continue
      try {
        const names = spec.names
        const w = watch(dir, { recursive: spec.recursive, persistent: false }, (_event, name) => {
          if (names !== null && name !== null && !names.has(String(name)) && !String(name).startsWith('..')) return
          this.#schedule()
        })
        w.on('error', () => { w.close(); this.#watchers.delete(dir) })
        this.#watchers.set(dir, w)
      } catch {
        // A folder that does not exist (yet) is caught by the poll.
      }
    }
  }

  #schedule (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#timer = null; this.#onChange() }, this.#delayMs)
  }
}

function addName (m: Map<string, { recursive: boolean, names: Set<string> | null }>, dir: string, name: string): void {
  const e = m.get(dir)
  if (e === undefined) m.set(dir, { recursive: false, names: new Set([name]) })
  else if (e.names !== null) e.names.add(name)
}
