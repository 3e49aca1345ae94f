// undici, loaded by the part that is used. meshgate's HTTP/1.1 pool needs only
// undici's connector (TCP, TLS with session reuse, connect timeouts); the rest
// (its Pool for HTTP/2 and h2c upstreams, `request` for JWKS and OTLP) loads on
// first use. Loading the whole package costs ~6 MB of RSS that a gateway
// proxying HTTP/1.1 never uses (README "Performance", memory).
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const require = createRequire(import.meta.url)

let whole: typeof Undici | null = null

/** The whole undici package, loaded on first call. */
export function undici (): typeof Undici {
  whole ??= require('undici') as typeof Undici
  return whole
}

function loadConnector (): typeof Undici.buildConnector {
  try {
    // The module behind undici's exported buildConnector (undici 7 keeps it here).
    const connector: unknown = require('undici/lib/core/connect.js')
    if (typeof connector === 'function') return connector as typeof Undici.buildConnector
  } catch {}
  return undici().buildConnector
}

/** undici's buildConnector, without loading the rest of undici. */
export const buildConnector: typeof Undici.buildConnector = loadConnector()

/** A connector built by buildConnector. */
export type Connector = Undici.buildConnector.connector
/** What buildConnector takes. */
export type ConnectorOptions = Undici.buildConnector.BuildOptions
/** What a connector is called with. */
export type ConnectOptions = Undici.buildConnector.Options
