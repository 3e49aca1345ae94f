// Libraries only some configurations use load when one first does, so a
// gateway without them does not hold them in memory (README "Why these libraries").
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

const runtimeUrl = new URL('../../src/gateway/runtime.js', import.meta.url).href
const joseUrl = new URL('../../src/plugins/authn-jwt/jose.js', import.meta.url).href

test('serving loads neither jose nor maxmind until a configuration needs them', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-lazy-'))
  try {
    const log = path.join(dir, 'loaded.txt')
    // A loader hook sees every module the ES loader loads (on Node 22 and later, require()'s too).
    const hooks = `import { appendFileSync } from 'node:fs'
      export async function load (url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context) }`
    // The log is read before jose() runs: on Node 22 and later the hook also sees what require() loads.
    const script = `
      import { register, createRequire } from 'node:module'
      import { readFileSync } from 'node:fs'
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}))
      await import(${JSON.stringify(runtimeUrl)})
      const { jose } = await import(${JSON.stringify(joseUrl)})
      const loaded = readFileSync(${JSON.stringify(log)}, 'utf8').split('\\n')
      const require = createRequire(${JSON.stringify(joseUrl)})
      const before = Object.keys(require.cache).filter(k => k.includes('/node_modules/jose/'))
      const verify = typeof jose().jwtVerify
      const after = Object.keys(require.cache).filter(k => k.includes('/node_modules/jose/'))
      console.log(JSON.stringify({ loaded, before: before.length, verify, after: after.length }))
    `
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { loaded: string[], before: number, verify: string, after: number }
    const loaded = out.loaded
    assert.ok(loaded.some(u => u.endsWith('/gateway/runtime.js')), 'the hook saw the gateway load')
    assert.deepEqual(loaded.filter(u => /\/node_modules\/(jose|maxmind|mmdb-lib)\//.test(u)), [])
    assert.equal(out.before, 0)
    assert.equal(out.verify, 'function')
    assert.ok(out.after > 0, 'jose() loads jose')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
