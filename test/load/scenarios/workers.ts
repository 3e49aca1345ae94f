// (g) Both cores: meshgate `--workers 2` (node:cluster) against nginx with two
// worker processes and the Node floor on two cluster workers. Nothing is
// pinned: proxies, upstream and load generator share both cores.
import { type Scenario } from '../scenario.js'
import { plainConfig } from './plain.js'

export const workers: Scenario = {
  name: 'workers',
  description: 'two processes per proxy on both cores (meshgate --workers 2, nginx worker_processes 2), one route, no pinning',
  meshgateConfig: plainConfig,
  request: { method: 'GET', path: '/api/items/42', headers: { accept: 'application/json' } },
  expectRoute: { virtualService: 'bench/plain', route: 'all' },
  workers: 2,
  // The issue sets no ratio goal here; zero errors is checked for every scenario.
  goals: []
}
