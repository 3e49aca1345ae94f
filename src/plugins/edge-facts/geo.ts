// Geo facts from MaxMind-format databases (`--geoip`), read with the `maxmind`
// package: GeoIP2/GeoLite2 City and Country, DB-IP's GeoIP2-compatible files, and
// the flat schema of the `@ip-location-db/*-mmdb` packages (`country_code`,
// `state1` as an English name, `city`), whose IPv4 and IPv6 halves come as two
// files — so several files may be given and the first one that knows an address
// answers. Each file is loaded once into memory and swapped when it changes on
// disk; a replacement that fails to load is logged and the previous one kept.
import { readFile, stat } from 'node:fs/promises'
import { unwatchFile, watchFile, type Stats } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import { createRequire } from 'node:module'
import type { Reader } from 'maxmind'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { prepareRegions, regionCode } from './regions.js'

export interface GeoFacts {
  /** ISO 3166-1 alpha-2, '' when unknown. */
  readonly country: string
  /** ISO 3166-2 subdivision code without the country prefix (`AN`), '' when unknown. */
  readonly region: string
  /**
   * City name (English where the database has several languages), '' when unknown.
   * Non-ASCII characters are percent-encoded (as CloudFront sends them), so the
   * value is a valid header value wherever it travels.
   */
  readonly city: string
}

const require = createRequire(import.meta.url)
// maxmind loads with the first database: a gateway without --geoip never holds it.
let ReaderClass: typeof Reader | null = null

export const NO_GEO: GeoFacts = Object.freeze({ country: '', region: '', city: '' })

interface GeoFile {
  readonly path: string
  reader: Reader<Record<string, unknown>>
  ipVersion: number
  databaseType: string
  mtimeMs: number
}

export interface GeoDatabaseInfo {
  readonly path: string
  readonly databaseType: string
  readonly ipVersion: number
  readonly buildEpoch: string
}

export class GeoDatabase {
  readonly #files: GeoFile[]
  readonly #cache = new LRUCache<string, GeoFacts>({ max: 50_000 })
  #log: Logger | null = null
  #watching = false
  #generation = 0

  private constructor (files: GeoFile[]) {
    this.#files = files
  }

  /** Loads every file; throws with the file name when one cannot be read as an mmdb. */
  static async open (paths: readonly string[]): Promise<GeoDatabase> {
    const files: GeoFile[] = []
    for (const path of paths) files.push(await loadFile(path))
    prepareRegions()
    return new GeoDatabase(files)
  }

  get files (): GeoDatabaseInfo[] {
    return this.#files.map(f => ({ path: f.path, databaseType: f.databaseType, ipVersion: f.ipVersion, buildEpoch: f.reader.metadata.buildEpoch.toISOString() }))
  }

  /** Counts reloads: facts looked up before a change are stale once it moves. */
  get generation (): number { return this.#generation }

  lookup (ip: string): GeoFacts {
    const hit = this.#cache.get(ip)
    if (hit !== undefined) return hit
    const facts = this.#lookupUncached(ip)
    this.#cache.set(ip, facts)
    return facts
  }

  #lookupUncached (ip: string): GeoFacts {
    const v4 = isIPv4(ip)
    if (!v4 && !isIPv6(ip)) return NO_GEO
    for (const f of this.#files) {
      if (!v4 && f.ipVersion !== 6) continue
      let record: Record<string, unknown> | null
      try {
        record = f.reader.get(ip)
      } catch {
        continue
      }
      if (record !== null && typeof record === 'object') {
        const facts = geoFactsOf(record)
        if (facts !== NO_GEO) return facts
      }
    }
    return NO_GEO
  }

  /** Polls the files' mtimes and swaps in a changed file once it loads cleanly. */
  watch (log: Logger, intervalMs = 5_000): void {
    if (this.#watching) return
    this.#watching = true
    this.#log = log
    for (const f of this.#files) {
      watchFile(f.path, { interval: intervalMs, persistent: false }, (cur: Stats) => {
        if (cur.mtimeMs === f.mtimeMs || cur.size === 0) return
        void this.#reload(f)
      })
    }
  }

  async #reload (f: GeoFile): Promise<void> {
    try {
      const next = await loadFile(f.path)
      f.reader = next.reader
      f.ipVersion = next.ipVersion
      f.databaseType = next.databaseType
      f.mtimeMs = next.mtimeMs
      this.#cache.clear()
      this.#generation++
      this.#log?.info({ geoip: f.path, databaseType: f.databaseType, build: f.reader.metadata.buildEpoch.toISOString() }, 'geoip database reloaded')
    } catch (err) {
      this.#log?.error({ geoip: f.path, err: (err as Error).message }, 'geoip database changed but cannot be loaded; the previous one keeps serving')
    }
  }

  close (): void {
    if (!this.#watching) return
    this.#watching = false
    for (const f of this.#files) unwatchFile(f.path)
  }
}

async function loadFile (path: string): Promise<GeoFile> {
  let buf: Buffer
  let mtimeMs: number
  try {
    buf = await readFile(path)
    mtimeMs = (await stat(path)).mtimeMs
  } catch (err) {
    throw new Error(`--geoip ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  let reader: Reader<Record<string, unknown>>
  try {
    ReaderClass ??= (require('maxmind') as typeof import('maxmind')).Reader
    reader = new ReaderClass<Record<string, unknown>>(buf)
  } catch (err) {
    throw new Error(`--geoip ${path}: not a MaxMind DB file (${(err as Error).message})`)
  }
  return { path, reader, ipVersion: reader.metadata.ipVersion, databaseType: reader.metadata.databaseType, mtimeMs }
}

/** Reads the facts out of a GeoIP2-schema or flat-schema record. */
export function geoFactsOf (r: Record<string, unknown>): GeoFacts {
  let country = ''
  let region = ''
  let city = ''
  if (typeof r.country_code === 'string') {
    // @ip-location-db flat schema.
    country = r.country_code.toUpperCase()
    if (typeof r.state1 === 'string' && r.state1 !== '') region = regionCode(country, r.state1) ?? ''
    if (typeof r.city === 'string') city = r.city
  } else {
    country = isoCode(r.country) || isoCode(r.registered_country)
    const subs = r.subdivisions
    if (Array.isArray(subs) && subs.length > 0) region = isoCode(subs[0])
    city = englishName(r.city)
  }
  if (country === '' && region === '' && city === '') return NO_GEO
  return Object.freeze({ country, region, city: headerSafe(city) })
}

const NON_ASCII = /[^\x20-\x7e]/

function headerSafe (s: string): string {
  return NON_ASCII.test(s) ? s.replace(/[^\x20-\x7e]+/g, m => encodeURIComponent(m)) : s
}

function isoCode (v: unknown): string {
  if (typeof v !== 'object' || v === null) return ''
  const code = (v as { iso_code?: unknown }).iso_code
  return typeof code === 'string' ? code : ''
}

function englishName (v: unknown): string {
  if (typeof v !== 'object' || v === null) return ''
  const names = (v as { names?: unknown }).names
  if (typeof names !== 'object' || names === null) return ''
  const en = (names as Record<string, unknown>).en
  if (typeof en === 'string') return en
  for (const n of Object.values(names)) if (typeof n === 'string') return n
  return ''
}
