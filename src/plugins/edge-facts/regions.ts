import { createRequire } from 'node:module'
import type * as Iso3166 from 'iso-3166'
import type * as Aliases from './region-aliases.js'

// Maps a subdivision name as found in GeoIP databases (DB-IP "flat" mmdb files
// store an English name such as 'Andalusia' in state1) to the ISO 3166-2 code
// without its country prefix ('AN'), which is what MaxMind databases carry.

interface CountryIndex {
  names: Map<string, string>
  /** Every code of the country → the first-level code containing it. */
  codes: Map<string, string>
}

// Words that qualify a name rather than identify it ('Riyadh Region',
// 'Beijing Shi', 'Gyeonggi-do'), in normalised form. Stripped from the ends of
// a name on both the iso-3166 side and the lookup side.
const PREFIXES = new Set([
  'state of', 'city of', 'province of', 'provincia de', 'provincia di', 'provincia',
  'region', 'region de', 'region of', 'region metropolitana', 'region metropolitana de',
  'regiao autonoma', 'regiao autonoma da', 'regiao autonoma dos', 'departamento de', 'departamento',
  'departement de', 'departement du', 'distrito', 'distrito capital', 'distrito capital de',
  'distrito federal', 'comunidad', 'comunidad de', 'comunidad autonoma de', 'comunidad foral de',
  'principado de', 'municipality of', 'municipio', 'municipalidad metropolitana de',
  'wilayah persekutuan', 'daerah khusus ibukota', 'daerah istimewa', 'provinsi',
  'republic of', 'respublika', 'avtonomna respublika', 'autonomous republic of',
  'governorate of', 'muhafazat', 'mintaqat', 'wilayat', 'canton of', 'canton de', 'canton',
  'county', 'county of', 'grad', 'horad', 'kraj', 'federal territory of', 'the',
  'urban municipality of', 'district of', 'estado', 'estado de', 'baladiyat', 'kommuneqarfik', 'kommune'
])
const SUFFIXES = new Set([
  'province', 'provincia', 'provinsi', 'region', 'regione', 'governorate', 'county',
  'state', 'shi', 'sheng', 'zizhiqu', 'zhuangzu zizhiqu', 'huizu zizhiqu', 'uygur zizhiqu',
  'sar', 'special administrative region', 'prefecture', 'oblast', 'voblasts', 'kray', 'krai',
  'respublika', 'republic', 'district', 'voivodeship', 'do', 'teukbyeolsi', 'gwangyeoksi',
  'teukbyeoljachido', 'teukbyeoljachisi', 'autonomous region', 'autonomous community',
  'autonomous province', 'autonomous district', 'municipality', 'capital', 'capital city',
  'capital district', 'capital territory', 'city', 'city of', 'department', 'departement',
  'division', 'emirate', 'lan', 'fylke', 'canton', 'kanton', 'parish', 'territory',
  'federal district', 'federal territory', 'd c', 'dc', 'f d', 'metropolitan',
  'metropolitan region', 'metropolitan city', 'okrug', 'avtonomnyy okrug',
  'avtonomnaya oblast', 'kraj', 'zupanija', 'hoofdstedelijk gewest', 'gewest', 'maakunta',
  'megye', 'wojewodztwo', 'vilayati', 'viloyati', 'mkhare', 'marz', 'apskritis', 'maakond',
  'novads', 'okrug', 'estado', 'gouvernorat', 'wilaya', 'oblysy', 'oblisi', 'shaary', 'shahri',
  'federal capital territory', 'kommunia'
])
// Left behind once a designator is gone: 'State of Berlin', 'Madrid, Comunidad de'.
const LINKS = new Set(['of', 'de', 'del', 'di', 'du', 'des', 'da', 'dos', 'd'])
const MAX_PHRASE = 3

// Letters NFD does not decompose into base + mark.
const LETTERS: Record<string, string> = {
  ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i', ħ: 'h', ŧ: 't', ŀ: 'l'
}

export function normaliseName (name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþıħŧŀ]/g, c => LETTERS[c] ?? c)
    // apostrophes join ("Kharkivs'ka", "Valle d'Aosta"), other punctuation separates
    .replace(/['’‘`ʼʻ´]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    // 'St. Julian', 'St.-Petersburg'
    .replace(/(^| )st(?= |$)/g, '$1saint')
}

// Last resort for spacing differences: 'Chonburi' / 'Chon Buri', 'Buriram' / 'Buri Ram'.
function compactKey (key: string): string {
  return `~${key.replace(/ /g, '')}`
}

// Strips designators from both ends until none is left; never empties the name.
function stripDesignators (key: string): string {
  let words = key.split(' ')
  for (let changed = true; changed && words.length > 1;) {
    changed = false
    for (let n = Math.min(MAX_PHRASE, words.length - 1); n > 0; n--) {
      if (PREFIXES.has(words.slice(0, n).join(' '))) {
        words = words.slice(n)
        while (words.length > 1 && LINKS.has(words[0]!)) words = words.slice(1)
        changed = true
        break
      }
      if (SUFFIXES.has(words.slice(-n).join(' '))) {
        words = words.slice(0, -n)
        while (words.length > 1 && LINKS.has(words[words.length - 1]!)) words = words.slice(0, -1)
        changed = true
        break
      }
    }
  }
  return words.join(' ')
}

// Variants of an iso-3166 name: inverted and bilingual comma forms
// ('Madrid, Comunidad de', "Valle d'Aosta, Vallée d'Aoste"), parentheticals
// ('Puducherry (Pondicherry)') and designator-stripped forms.
function isoVariants (country: string, name: string): string[] {
  const raw = new Set<string>()
  const parts = name.split(',').map(p => p.trim()).filter(p => p !== '')
  for (const part of parts) raw.add(part)
  if (parts.length === 2) raw.add(`${parts[1]} ${parts[0]}`)
  for (const r of [...raw]) {
    const bare = r.replace(/\s*\([^)]*\)\s*/g, ' ').trim()
    if (bare !== r && bare !== '') raw.add(bare)
    for (const m of r.matchAll(/\(([^)]*)\)/g)) if (m[1]) raw.add(m[1])
  }
  const out = new Set<string>()
  for (const r of raw) {
    const key = normaliseName(r)
    if (key === '') continue
    out.add(key)
    out.add(stripDesignators(key))
    for (const v of countryVariants(country, key)) out.add(v)
  }
  for (const key of [...out]) out.add(compactKey(key))
  out.delete(normaliseName(name))
  return [...out]
}

// Romanisation and grammar differences that follow a rule for one country.
function countryVariants (country: string, key: string): string[] {
  switch (country) {
    case 'JP':
      // iso-3166 uses Kunrei-shiki (Hukuoka, Tiba); DB-IP uses Hepburn (Fukuoka, Chiba)
      return [key.replace(/si/g, 'shi').replace(/ti/g, 'chi').replace(/tu/g, 'tsu').replace(/hu/g, 'fu').replace(/zi/g, 'ji')]
    case 'SE': {
      // genitive county names: 'Stockholms län' → Stockholm
      const base = stripDesignators(key)
      return base !== key && base.endsWith('s') ? [base.slice(0, -1)] : []
    }
    case 'RU':
    case 'UA':
    case 'BY': {
      // adjectival forms: 'Novosibirskaya oblast' → Novosibirsk, 'Permskiy kray' → Perm
      const m = /^(.*?)sk(aya|iy|a|yy|yi)$/.exec(stripDesignators(key))
      if (m === null || m[1] === undefined || m[1].length < 2) return []
      return m[1].length < 3 ? [`${m[1]}sk`] : [`${m[1]}sk`, m[1]]
    }
    case 'LV': {
      // genitive municipality names: 'Mārupes novads' → Marupe
      const base = stripDesignators(key)
      return base !== key && base.endsWith('s') ? [base.slice(0, -1)] : []
    }
    default:
      return []
  }
}

// Precedence when two entries claim the same key: aliases, then first-level
// names, their variants, lower-level names, their variants. A key claimed by two
// codes at the same precedence is ambiguous and left out.
const TIER_ALIAS = 0
const TIER_FIRST = 1
const TIER_FIRST_VARIANT = 2
const TIER_LOWER = 3
const TIER_LOWER_VARIANT = 4

let index: Map<string, CountryIndex> | undefined

// The ISO 3166-2 table is large (~11 MB of RSS once loaded), and only geo
// lookups that meet a subdivision name need it: it loads with the first one.
function subdivisions (): typeof Iso3166.iso31662 {
  const require = createRequire(import.meta.url)
  return (require('iso-3166') as typeof Iso3166).iso31662
}

function buildIndex (): Map<string, CountryIndex> {
  const iso31662 = subdivisions()
  const claims = new Map<string, Map<string, { tier: number, code: string | null }>>()
  /** Every code of a country → its first-level code. */
  const codes = new Map<string, Map<string, string>>()
  const claim = (country: string, key: string, code: string, tier: number): void => {
    let byKey = claims.get(country)
    if (byKey === undefined) claims.set(country, byKey = new Map())
    const prev = byKey.get(key)
    if (prev === undefined || tier < prev.tier) byKey.set(key, { tier, code })
    else if (tier === prev.tier && prev.code !== code) prev.code = null
  }

  // The region fact is a first-level subdivision (as MaxMind's subdivisions[0]
  // and CloudFront's region header): a lower-level name or code stands for the
  // first-level subdivision that contains it ('Sevilla' → AN).
  const parentOf = new Map<string, string>()
  for (const entry of iso31662) parentOf.set(entry.code, entry.parent)
  const firstLevelOf = (full: string): string => {
    let c = full
    for (let hops = 0; hops < 5; hops++) {
      const parent = parentOf.get(c)
      if (parent === undefined || parent.length === 2) break
      c = parent
    }
    return c.slice(3)
  }
  for (const entry of iso31662) {
    const country = entry.code.slice(0, 2)
    const code = firstLevelOf(entry.code)
    let map = codes.get(country)
    if (map === undefined) codes.set(country, map = new Map())
    map.set(entry.code.slice(3), code)
    const first = entry.parent === country
    claim(country, normaliseName(entry.name), code, first ? TIER_FIRST : TIER_LOWER)
    for (const v of isoVariants(country, entry.name)) claim(country, v, code, first ? TIER_FIRST_VARIANT : TIER_LOWER_VARIANT)
  }
  // Loaded here, with the ISO table: a gateway that never maps a region name never holds them.
  const { regionAliases } = createRequire(import.meta.url)('./region-aliases.js') as typeof Aliases
  for (const [country, table] of Object.entries(regionAliases)) {
    for (const [name, code] of Object.entries(table)) claim(country, normaliseName(name), code, TIER_ALIAS)
  }

  const built = new Map<string, CountryIndex>()
  for (const [country, set] of codes) {
    const names = new Map<string, string>()
    for (const [key, { code }] of claims.get(country) ?? []) if (code !== null) names.set(key, code)
    built.set(country, { names, codes: set })
  }
  return built
}

function countryIndex (country: string): CountryIndex | undefined {
  index ??= buildIndex()
  return index.get(country)
}

/**
 * Loads the subdivision table and builds the name index now, so that the first
 * request naming a region does not pay for it (called when a geo database
 * opens and when the data plane adopts an EdgeFacts that reads a region header).
 */
export function prepareRegions (): void {
  index ??= buildIndex()
}

// Repeated names are common (every IP of a region); normalising is the costly
// part, so results are memoised in a bounded map.
const MEMO_LIMIT = 4096
const memo = new Map<string, string | null>()

/**
 * ISO 3166-2 code of a subdivision, without the country prefix, for a country
 * code and a subdivision name ('ES', 'Andalusia' → 'AN'). Accepts names in
 * English or local spellings, with or without designators, and codes that are
 * already valid ('AN' or 'ES-AN'). Returns undefined when unknown.
 */
export function regionCode (country: string, name: string): string | undefined {
  const memoKey = `${country}\u0000${name}`
  const hit = memo.get(memoKey)
  if (hit !== undefined) return hit ?? undefined
  const code = resolve(country, name)
  if (memo.size >= MEMO_LIMIT) memo.clear()
  memo.set(memoKey, code ?? null)
  return code
}

function resolve (country: string, name: string): string | undefined {
  const cc = country.trim().toUpperCase()
  const idx = countryIndex(cc)
  if (idx === undefined) return undefined
  const trimmed = name.trim()
  if (trimmed === '') return undefined
  // already a code: 'AN' (upper case, as codes are written) or 'ES-AN'
  const upper = trimmed.toUpperCase()
  const suffix = upper.startsWith(`${cc}-`) ? upper.slice(cc.length + 1) : trimmed
  if (/^[A-Z0-9]{1,3}$/.test(suffix)) {
    const first = idx.codes.get(suffix)
    if (first !== undefined) return first
  }

  const key = normaliseName(trimmed)
  const exact = idx.names.get(key)
  if (exact !== undefined) return exact
  const bare = normaliseName(trimmed.replace(/\([^)]*\)/g, ' '))
  const stripped = stripDesignators(bare)
  return idx.names.get(stripped) ?? idx.names.get(bare) ?? idx.names.get(compactKey(stripped))
}
