// The Node.js flags meshgate runs with. They take effect only on the command
// line that starts the process, so they are written where meshgate is
// launched: bin/meshgate.js's first line (`npx meshgate`, the installed
// command) and the Dockerfile's ENTRYPOINT; `serve --workers` gives them to
// every worker, however the primary was started. test/unit/node-flags.test.ts
// holds the three equal.
//
// --max-semi-space-size=8: V8's young generation grows to 2 × 16 MiB by default
// under steady load. A request's garbage dies within the request, so a scavenge
// copies little however often it runs: with 4 MiB semi-spaces the plain proxy's
// peak RSS is ~20 MiB lower at the same CPU time per request (README
// "Performance", memory).
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8'])

/** Node flags for a worker: meshgate's own, then whatever the primary was started with (later flags win). */
export function workerExecArgv (execArgv: readonly string[]): string[] {
  return [...NODE_FLAGS, ...execArgv]
}
