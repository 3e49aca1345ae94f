// The `meshgate` command. User errors print one clear line, never a stack trace.
import { ArgError } from './args.js'
import { runServe, SERVE_USAGE } from './serve.js'
import { runValidate } from './validate.js'
import { runExplain } from './explain.js'
import { runRouteTests } from './test-routes.js'
import { runEcho } from './echo.js'
import { UsageError } from '../gateway/explain.js'

const USAGE = `usage: meshgate <command> [flags]

commands:
  serve     --config PATH...                 run the gateway
  validate  --config PATH... [--strict]      check config as Istio admission and istioctl analyze do
  explain   --config PATH... --url URL [-X METHOD] [-H 'k: v']... [--ip ADDR]
                                             show what the gateway would do with one request
  test      --config PATH... FILE...         run route test files offline
  echo      --port N [--name NAME] ...       example upstream that echoes requests (for the quickstart)
  ca        init | issue --spiffe URI --out DIR   a development CA for local meshes (ISTIO_MUTUAL)

  serve, validate, explain and test also read a cluster: --kubernetes (in a pod) or --kubeconfig FILE,
  with --watch-namespace NS to narrow it; --config is then optional.

${SERVE_USAGE}
`

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'serve': return await runServe(rest)
    case 'validate': return await runValidate(rest)
    case 'explain': return await runExplain(rest)
    case 'test': return await runRouteTests(rest)
    case 'echo': return await runEcho(rest)
    // The development CA's X.509 library is loaded only for this command (~20 MB a gateway never needs).
    case 'ca': return await (await import('./ca.js')).runCa(rest)
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE)
      return cmd === undefined ? 2 : 0
    default:
      process.stderr.write(`meshgate: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
  // serve resolves only after draining; the other commands are done here.
  if (process.argv[2] !== 'echo') setImmediate(() => process.exit(code))
}, (err: unknown) => {
  if (err instanceof ArgError || err instanceof UsageError) {
    process.stderr.write(`meshgate: ${err.message}\n`)
    process.exit(2)
  }
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'ENOENT' || e?.code === 'EACCES' || e?.code === 'EADDRINUSE') {
    process.stderr.write(`meshgate: ${e.message}\n`)
    process.exit(1)
  }
  process.stderr.write(`meshgate: internal error: ${e?.message ?? String(err)}\n`)
  if (process.env.MESHGATE_DEBUG === '1') process.stderr.write(`${e?.stack ?? ''}\n`)
  process.exit(1)
})
