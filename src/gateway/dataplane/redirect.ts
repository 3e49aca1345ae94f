// Istio HTTPRedirect → `location`, shared by the data plane and `explain`.
import type { RedirectPolicy } from '../snapshot.js'
import type { RequestFacts } from './request-facts.js'

const WORKING_CODES = new Set([301, 302, 303, 307, 308])

/** Other 3xx codes pass validation, but Envoy then drops the route: it behaves as no route. */
export function isWorkingRedirect (r: RedirectPolicy): boolean {
  return WORKING_CODES.has(r.code)
}

function splitAuthority (authority: string): { host: string, port: string } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']')
    const rest = authority.slice(close + 1)
    return { host: authority.slice(0, close + 1), port: rest.startsWith(':') ? rest.slice(1) : '' }
  }
  const colon = authority.lastIndexOf(':')
  return colon === -1 ? { host: authority, port: '' } : { host: authority.slice(0, colon), port: authority.slice(colon + 1) }
}

/**
 * `uri` replaces the whole path (the query is kept unless the new uri has one);
 * `prefixRewrite` swaps the matched uri prefix;
 * `authority` replaces host[:port]; when the scheme changes and no port is set,
 * a port equal to the old scheme's default is dropped; :80/:443 are omitted.
 */
export function redirectLocation (r: RedirectPolicy, f: RequestFacts, matchedPrefix: string | null): string {
  const scheme = r.scheme ?? f.scheme
  const auth = splitAuthority(r.authority ?? f.authority)
  let port = auth.port
  if (r.port > 0) port = String(r.port)
  else if (r.port === 0) port = ''
  else if (r.port === -2) port = String(f.port)
  else if (r.scheme !== null && r.scheme !== f.scheme && port === (f.scheme === 'https' ? '443' : '80')) port = ''
  if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) port = ''
  let pathAndQuery: string
  if (r.uri !== null) pathAndQuery = r.uri.includes('?') || f.query === '' ? r.uri : `${r.uri}?${f.query}`
  else if (r.prefixRewrite !== null && matchedPrefix !== null) {
    const path = r.prefixRewrite + f.path.slice(matchedPrefix.length)
    pathAndQuery = f.query === '' ? path : `${path}?${f.query}`
  } else pathAndQuery = f.rawPath
  return `${scheme}://${auth.host}${port === '' ? '' : `:${port}`}${pathAndQuery}`
}
