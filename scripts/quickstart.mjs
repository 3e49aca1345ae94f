#!/usr/bin/env node
// `npm run quickstart`: the example upstreams (`meshgate echo`) and the gateway
// with config/examples/quickstart, in one terminal. Ctrl-C stops both.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin', 'meshgate.js')
const echo = spawn(process.execPath, [bin, 'echo', '--port', '9001', '--name', 'shop-v1', '--port', '9002', '--name', 'shop-v2'], { stdio: 'inherit' })
const gateway = spawn(process.execPath, [bin, 'serve', '--config', path.join(root, 'config/examples/quickstart'), ...process.argv.slice(2)], { stdio: 'inherit' })

let code = 0
const stop = (signal) => {
  gateway.kill(signal)
  echo.kill(signal)
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
gateway.on('exit', (c) => {
  code = c ?? 1
  echo.kill('SIGTERM')
})
echo.on('exit', () => {
  if (gateway.exitCode === null) gateway.kill('SIGTERM')
  else process.exit(code)
})
gateway.on('exit', () => { if (echo.exitCode !== null || echo.signalCode !== null) process.exit(code) })
