// Device facts from the `user-agent` header: operating system, device class and
// browser. bowser does the parsing (MIT; a parse costs ~15-20 µs here) and isbot
// the crawler test (Unlicense); user agents repeat heavily, so results sit in a
// bounded LRU and a warm lookup is one map access.
import Bowser from 'bowser'
import { isbot } from 'isbot'
import { LRUCache } from 'lru-cache'

export interface DeviceFacts {
  /** `iOS`, `Android`, `Windows`, `macOS`, `Linux`, `Chrome OS`, ... or '' when unknown. */
  readonly os: string
  /** `iPhone`, `iPad`, `mobile`, `tablet`, `desktop` or `bot`. */
  readonly device: string
  /** `Safari`, `Chrome`, `Firefox`, `Edge`, ... or '' when unknown. */
  readonly browser: string
}

/** User agents longer than this are classified but not cached (they are unlikely to repeat). */
const MAX_CACHED_UA = 512

/** bowser's names where a shorter, more usual one exists. */
const BROWSER_NAMES: Readonly<Record<string, string>> = {
  'Microsoft Edge': 'Edge',
  'Samsung Internet for Android': 'Samsung Internet',
  'Internet Explorer': 'IE',
  'Chromium': 'Chromium'
}

export class DeviceClassifier {
  readonly #cache: LRUCache<string, DeviceFacts>

  constructor (maxEntries = 10_000) {
    this.#cache = new LRUCache({ max: maxEntries })
  }

  classify (ua: string): DeviceFacts {
    const hit = this.#cache.get(ua)
    if (hit !== undefined) return hit
    const facts = classifyUserAgent(ua)
    if (ua.length <= MAX_CACHED_UA) this.#cache.set(ua, facts)
    return facts
  }

  get size (): number { return this.#cache.size }
}

export function classifyUserAgent (ua: string): DeviceFacts {
  const p = Bowser.parse(ua)
  const os = p.os.name ?? ''
  const browserName = p.browser.name ?? ''
  const browser = BROWSER_NAMES[browserName] ?? browserName
  if (p.platform.type === 'bot' || isbot(ua)) return Object.freeze({ os, device: 'bot', browser })
  const model = p.platform.model ?? ''
  let device: string
  if (model === 'iPhone' || (os === 'iOS' && /\biPhone\b/.test(ua))) device = 'iPhone'
  else if (model === 'iPad' || /\biPad\b/.test(ua)) device = 'iPad'
  else if (p.platform.type === 'mobile') device = 'mobile'
  else if (p.platform.type === 'tablet') device = 'tablet'
  else device = 'desktop'
  return Object.freeze({ os, device, browser })
}
