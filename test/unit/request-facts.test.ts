// Query parameters and regexes as route matching reads them, and how a load
// compiles each regex once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import RE2 from 're2'
import { RequestFacts } from '../../src/gateway/dataplane/request-facts.js'
import { buildStringMatcher, compileFullRegex, matchString, regexTest, sharingRegexes } from '../../src/gateway/compile/string-matcher.js'
import { regexProblem } from '../../src/gateway/validate/common.js'

function facts (path: string): RequestFacts {
  return new RequestFacts('GET', 'http', 'a.test', path, {}, 80, '127.0.0.1', '')
}

test('queryParam returns the first occurrence, decoded', () => {
  const f = facts('/p?a=1&b=x%20y&a=2&c&&d=&e+f=g&h%3Dk=%zz')
  assert.equal(f.queryParam('a'), '1')
  assert.equal(f.queryParam('b'), 'x y')
  assert.equal(f.queryParam('c'), '')
  assert.equal(f.queryParam('d'), '')
  assert.equal(f.queryParam('e f'), 'g')
  assert.equal(f.queryParam('e+f'), undefined)
  assert.equal(f.queryParam('h=k'), '%zz')
  assert.equal(f.queryParam('z'), undefined)
  assert.equal(f.queryParam(''), undefined)
  assert.equal(facts('/p').queryParam('a'), undefined)
  assert.equal(facts('/p?').queryParam('a'), undefined)
  assert.equal(facts('/p?ab=1').queryParam('a'), undefined)
  assert.equal(facts('/p?a%62=1&ab=2').queryParam('ab'), '1')
})

test('queryParam agrees with URLSearchParams on plain keys', () => {
  const part = fc.tuple(fc.constantFrom('a', 'b', 'ab', 'c'), fc.option(fc.stringMatching(/^[a-z0-9]{0,4}$/), { nil: undefined }))
  fc.assert(fc.property(fc.array(part, { maxLength: 6 }), fc.constantFrom('a', 'b', 'ab', 'c', 'd'), (parts, name) => {
    const q = parts.map(([k, v]) => v === undefined ? k : `${k}=${v}`).join('&')
    const want = new URLSearchParams(q).get(name) ?? undefined
    assert.equal(facts(`/p?${q}`).queryParam(name), want, q)
  }), { numRuns: 300 })
})

test('removeQueryParam drops every occurrence and later reads see it gone', () => {
  const f = facts('/p?key=s&a=1&key=t')
  assert.equal(f.queryParam('key'), 's')
  f.removeQueryParam('key')
  assert.equal(f.rawPath, '/p?a=1')
  assert.equal(f.queryParam('key'), undefined)
  assert.equal(f.queryParam('a'), '1')
})

test('regexTest answers as RE2 does on the string itself', () => {
  const re = compileFullRegex('/caf[ée]/[0-9]+|x.y')
  for (const v of ['/café/12', '/cafe/1', '/cafè/1', 'x😀y', 'xy', '\ud800', `/cafe/${'1'.repeat(5000)}`, `/cafe/${'1'.repeat(5000)}a`]) {
    assert.equal(regexTest(re, v), re.test(v), v.slice(0, 20))
  }
  // Values longer and shorter than before: each gets a view of its own length.
  assert.equal(regexTest(compileFullRegex('ab'), 'ab'), true)
  assert.equal(regexTest(compileFullRegex('ab'), 'abc'), false)
  assert.equal(regexTest(compileFullRegex('ab'), 'a'), false)
})

test('a regex matcher with a literal head answers as the bare regex does', () => {
  const patterns = ['/api/v[0-9]+', '/ab?', '/a+', 'ab*c', '/x/.*', '(?i)/a', 'a|b', '.*', 'é+']
  fc.assert(fc.property(fc.constantFrom(...patterns), fc.stringMatching(/^[/abcxviéA0-9]{0,8}$/), (p, v) => {
    const m = buildStringMatcher({ regex: p })!
    assert.equal(matchString(m, v), new RE2(`^(?:${p})$`).test(v), `${p} on ${v}`)
  }), { numRuns: 2000 })
})

test('regexProblem judges a pattern as written, whichever form it compiles', () => {
  for (const ok of ['/api/v[0-9]+', '\\Qab', 'a{2', '(a|b)+', '.*']) assert.equal(regexProblem(ok), null, ok)
  const bad: Array<[string, string]> = [['a(b', 'missing ): a(b'], ['a)(?:b', 'unexpected ): a)(?:b'], ['(?i', 'invalid perl operator: (?i'], ['a\\', 'trailing \\'], ['[a', 'missing ]: [a']]
  for (const [src, message] of bad) {
    const problem = regexProblem(src) ?? ''
    assert.ok(problem.endsWith(message), `${src}: ${problem}`)
    assert.ok(!problem.includes('^(?:'), problem)
  }
})

test('within one load each regex source is compiled once, for validation and matching alike', () => {
  const outside = [compileFullRegex('/a/[0-9]+'), compileFullRegex('/a/[0-9]+')]
  assert.notEqual(outside[0], outside[1])
  const inside = sharingRegexes(() => {
    assert.equal(regexProblem('/a/[0-9]+'), null)
    return [compileFullRegex('/a/[0-9]+'), buildStringMatcher({ regex: '/a/[0-9]+' })!.re, compileFullRegex('/b')]
  })
  assert.equal(inside[0], inside[1])
  assert.notEqual(inside[0], inside[2])
  assert.equal(regexTest(inside[1]!, '/a/12'), true)
  // The next load starts afresh.
  assert.notEqual(sharingRegexes(() => compileFullRegex('/a/[0-9]+')), inside[0])
})
