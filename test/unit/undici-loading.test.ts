// undici loads by the part used: the HTTP/1.1 pool needs only its connector,
// so a gateway proxying HTTP/1.1 does not carry the rest of the package in
// memory (README "Performance", memory).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const moduleUrl = new URL('../../src/mesh-bridge/undici.js', import.meta.url).href

test('the connector comes from undici without loading the rest of undici', () => {
  const script = `
    import { createRequire } from 'node:module'
    const m = await import(${JSON.stringify(moduleUrl)})
    const require = createRequire(${JSON.stringify(moduleUrl)})
    const loaded = () => Object.keys(require.cache).filter(k => k.includes('/node_modules/undici/')).map(k => k.split('/node_modules/undici/')[1])
    const before = loaded()
    const same = m.buildConnector === m.undici().buildConnector
    console.log(JSON.stringify({ before, same, after: loaded().includes('index.js') }))
  `
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)), encoding: 'utf8' })) as { before: string[], same: boolean, after: boolean }
  // If undici moves its connector, the fallback still works (same function) but this names the regression.
  assert.ok(out.before.includes('lib/core/connect.js'), `connector module loaded: ${out.before.join(', ')}`)
  assert.ok(!out.before.includes('index.js'), 'undici/index.js is not loaded until something needs it')
  assert.equal(out.same, true, 'the connector is undici\'s own buildConnector')
  assert.equal(out.after, true, 'undici() loads the whole package on demand')
})
