// (f) 1 KiB of request headers (a browser's worth: cookies, user agent, accept
// lists, tracing) and 16 KiB answers: header parsing and body streaming.
import { type Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

const REQUEST_HEADER_BYTES = 1024

/** Realistic headers, the cookie padded so that `name: value\r\n` lines (with `host`) add up to 1 KiB. */
function browserHeaders (): Record<string, string> {
  const headers: Record<string, string> = {
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
    'accept-language': 'en-GB,en;q=0.9,de;q=0.8,fr;q=0.7',
    'accept-encoding': 'identity',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'x-request-id': '7f1d3c2a-9b8e-4d6f-a1c2-3e4f5a6b7c8d',
    cookie: ''
  }
  const used = Object.entries(headers).reduce((n, [k, v]) => n + k.length + 2 + v.length + 2, 'host: bench.test\r\n'.length)
  headers.cookie = 'session=' + 'a'.repeat(Math.max(0, REQUEST_HEADER_BYTES - used - 'session='.length))
  return headers
}

export const bigHeaders: Scenario = {
  name: 'big-headers',
  description: '1 KiB of request headers, 16 KiB answers, one route',
  meshgateConfig: plainConfig,
  request: { method: 'GET', path: '/page/index.html', headers: browserHeaders() },
  upstreamResponse: { bytes: 16 * 1024 },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  // The issue sets no ratio goal here; zero errors is checked for every scenario.
  goals: []
}
