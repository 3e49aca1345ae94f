// Who the client is: the TCP peer, unless the peer is a trusted proxy, in which
// case `x-forwarded-for` is read from the right and the first hop that is not a
// trusted proxy is the client (what nginx's realip module does with
// `real_ip_recursive on`). Every user of a client address — geo, `ip` rate-limit
// keys, `remoteIpBlocks`, sticky `ip` — reads the one result.
import { BlockList, isIPv4, isIPv6 } from 'node:net'

/**
 * A set of CIDRs compiled for the request path. IPv4 (the common case, and how
 * IPv4-mapped IPv6 peers are seen) is tested with integer masks; IPv6 goes to
 * node's BlockList.
 */
export class CidrSet {
  readonly cidrs: readonly string[]
  readonly #v4net: Uint32Array
  readonly #v4mask: Uint32Array
  readonly #v6: BlockList | null

  constructor (cidrs: readonly string[]) {
    this.cidrs = Object.freeze([...cidrs])
    const nets: number[] = []
    const masks: number[] = []
    let v6: BlockList | null = null
    for (const c of cidrs) {
      const slash = c.indexOf('/')
      const addr = slash === -1 ? c : c.slice(0, slash)
      const bits = slash === -1 ? (isIPv4(addr) ? 32 : 128) : Number(c.slice(slash + 1))
      if (!Number.isInteger(bits) || bits < 0 || bits > (isIPv4(addr) ? 32 : 128) || (slash !== -1 && !/^\d+$/.test(c.slice(slash + 1)))) {
        throw new Error(`${JSON.stringify(c)} is not an IP address or CIDR`)
      }
      if (isIPv4(addr)) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
        nets.push((ipv4ToInt(addr) & mask) >>> 0)
        masks.push(mask)
      } else if (isIPv6(addr)) {
        v6 ??= new BlockList()
        v6.addSubnet(addr, bits, 'ipv6')
      } else {
        throw new Error(`${JSON.stringify(c)} is not an IP address or CIDR`)
      }
    }
    this.#v4net = Uint32Array.from(nets)
    this.#v4mask = Uint32Array.from(masks)
    this.#v6 = v6
  }

  get size (): number { return this.cidrs.length }

  /** True when `ip` (IPv4, IPv6 or IPv4-mapped IPv6) is inside one of the CIDRs. */
  has (ip: string): boolean {
    const v4 = ipv4ToInt(ip.startsWith('::ffff:') ? ip.slice(7) : ip)
    if (v4 !== -1) {
      const nets = this.#v4net
      const masks = this.#v4mask
      for (let i = 0; i < nets.length; i++) if (((v4 & masks[i]!) >>> 0) === nets[i]) return true
      return false
    }
    return this.#v6 !== null && isIPv6(ip) && this.#v6.check(ip, 'ipv6')
  }
}

/** Dotted quad → unsigned 32-bit integer, or -1 when `s` is not one. */
export function ipv4ToInt (s: string): number {
  let value = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1
      value = value * 256 + part
      part = 0
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1 // no leading zeros (octal ambiguity)
      part = part * 10 + (c - 48)
      if (++digits > 3 || part > 255) return -1
    } else {
      return -1
    }
  }
  if (dots !== 3 || digits === 0) return -1
  return value * 256 + part
}

/**
 * The client address for a request from `peer` carrying `xff`. With no trusted
 * proxies, or a peer that is not one, the peer is the client. An entry that is
 * not an IP address ends the walk: the hop that appended it is taken as the client.
 */
export function clientAddress (peer: string, xff: string | string[] | undefined, trusted: CidrSet | null): string {
  if (trusted === null || xff === undefined || !trusted.has(peer)) return peer
  const list = typeof xff === 'string' ? xff : xff.join(',')
  let end = list.length
  let client = peer
  while (end > 0) {
    const comma = list.lastIndexOf(',', end - 1)
    const hop = trimHop(list.slice(comma + 1, end))
    end = comma === -1 ? 0 : comma
    if (hop === '') continue
    if (!isIPv4(hop) && !isIPv6(hop)) return client
    client = hop
    if (!trusted.has(hop)) return hop
  }
  return client
}

/** Trims spaces and the brackets/port forms some proxies write (`[2001:db8::1]`, `1.2.3.4:5678`). */
function trimHop (s: string): string {
  let a = s.trim()
  if (a.startsWith('[')) {
    const close = a.indexOf(']')
    return close === -1 ? a : a.slice(1, close)
  }
  const colon = a.indexOf(':')
  if (colon !== -1 && colon === a.lastIndexOf(':')) a = a.slice(0, colon)
  if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) a = a.slice(7)
  return a
}
