// The Node.js flags meshgate runs with. They take effect only on the command
// line that starts the process: the Dockerfile's ENTRYPOINT names them, and
// `serve --workers` gives them to every worker however the primary was
// started. bin/meshgate.js keeps a plain `#!/usr/bin/env node` first line:
// flags there need `env -S`, which BusyBox's env (Alpine) lacks. A single
// process started through it runs with V8's defaults unless NODE_OPTIONS
// says otherwise. test/unit/node-flags.test.ts holds the Dockerfile to this list.
//
// --max-semi-space-size=8: V8's young generation grows to 2 × 16 MiB by default
// under steady load. A request's garbage dies within the request, so a scavenge
// copies little however often it runs: with 8 MiB semi-spaces peak RSS is
// 8–12 MiB lower at the same CPU time per request, for the plain proxy and the
// full stack alike (bench/HISTORY.md, "The young generation").
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8'])

/** Node flags for a worker: meshgate's own, then whatever the primary was started with (later flags win). */
export function workerExecArgv (execArgv: readonly string[]): string[] {
  return [...NODE_FLAGS, ...execArgv]
}
