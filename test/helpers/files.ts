// Files under a folder, for tests that check every example, fixture or source file.
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

/** Every file below `dir` (recursively, in name order) whose name `keep` accepts. A missing `dir` throws. */
export function filesUnder (dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, keep))
    else if (keep(name)) out.push(p)
  }
  return out
}

export const isYaml = (name: string): boolean => /\.ya?ml$/.test(name)
