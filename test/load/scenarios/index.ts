// Every scenario, in the order `npm run bench` runs them. A new scenario is one
// file beside this one plus one line here (an explicit list: no import-order magic).
import type { Scenario } from '../scenario.js'
import { plain } from './plain.js'
import { manyRoutes } from './many-routes.js'
import { bigHeaders } from './big-headers.js'
import { workers } from './workers.js'
import { edgeFacts } from './edge-facts.js'
import { auth } from './auth.js'
import { rateLimit, rateLimitRedis } from './rate-limit.js'
import { cacheHit } from './cache.js'
import { mtls } from './mtls.js'
import { fullStack } from './full-stack.js'

export const SCENARIOS: readonly Scenario[] = [plain, manyRoutes, bigHeaders, workers, edgeFacts, auth, rateLimit, rateLimitRedis, cacheHit, mtls, fullStack]
