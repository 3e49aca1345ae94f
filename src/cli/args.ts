// A small argv reader for the contract's flag forms: `--flag value`,
// `--flag=value`, repeated flags, and `--config A B C` (values until the next flag).

export type FlagKind = 'string' | 'boolean' | 'list' | 'multi'

export interface FlagSpec { readonly [name: string]: FlagKind }

export interface ParsedArgs {
  readonly flags: Map<string, string[]>
  readonly booleans: Set<string>
  readonly positionals: string[]
}

export class ArgError extends Error {}

/** `aliases` maps short forms (`-X`) to flag names. */
export function parseArgs (argv: readonly string[], spec: FlagSpec, aliases: Readonly<Record<string, string>> = {}): ParsedArgs {
  const flags = new Map<string, string[]>()
  const booleans = new Set<string>()
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break }
    if (!a.startsWith('-') || a === '-') { positionals.push(a); continue }
    let inline: string | null = null
    const eq = a.indexOf('=')
    if (a.startsWith('--') && eq !== -1) { inline = a.slice(eq + 1); a = a.slice(0, eq) }
    const name = aliases[a] ?? (a.startsWith('--') ? a.slice(2) : '')
    const kind = spec[name]
    if (kind === undefined) throw new ArgError(`unknown flag ${a}`)
    if (kind === 'boolean') {
      if (inline !== null && inline !== 'true' && inline !== 'false') throw new ArgError(`${a} takes no value`)
      if (inline !== 'false') booleans.add(name)
      continue
    }
    const values = flags.get(name) ?? []
    if (inline !== null) {
      values.push(inline)
    } else {
      const v = argv[i + 1]
      if (v === undefined || (v.startsWith('-') && v !== '-')) throw new ArgError(`${a} needs a value`)
      values.push(v)
      i++
      if (kind === 'multi') {
        while (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) values.push(argv[++i]!)
      }
    }
    if (kind === 'string' && values.length > 1) throw new ArgError(`${a} given more than once`)
    flags.set(name, values)
  }
  return { flags, booleans, positionals }
}

export function flag (p: ParsedArgs, name: string): string | undefined {
  return p.flags.get(name)?.[0]
}

export function flagList (p: ParsedArgs, name: string): string[] {
  return p.flags.get(name) ?? []
}

export function intFlag (p: ParsedArgs, name: string, dflt: number, min = 0, max = 65535): number {
  const v = flag(p, name)
  if (v === undefined) return dflt
  if (!/^\d+$/.test(v)) throw new ArgError(`--${name} must be a whole number, got ${JSON.stringify(v)}`)
  const n = Number(v)
  if (n < min || n > max) throw new ArgError(`--${name} must be between ${min} and ${max}, got ${n}`)
  return n
}
