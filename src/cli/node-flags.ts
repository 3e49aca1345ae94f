// The Node.js flags meshgate runs with. They take effect only on the command
// line that starts the process: the Dockerfile's ENTRYPOINT names them, and
// `serve --workers` gives them to every worker however the primary was
// started. bin/meshgate.js keeps a plain `#!/usr/bin/env node` first line:
// flags there need `env -S`, which BusyBox's env (Alpine) lacks. A single
// process started through it runs with V8's defaults unless NODE_OPTIONS
// says otherwise (Node refuses `--single-threaded-gc` there: it goes on the
// command line). test/unit/node-flags.test.ts holds the Dockerfile to this list.
//
// --max-semi-space-size=8: V8's young generation grows to 2 × 16 MiB by default
// under steady load. A request's garbage dies within the request, so a scavenge
// copies little however often it runs: with 8 MiB semi-spaces peak RSS is
// 8–12 MiB lower at the same CPU time per request, for the plain proxy and the
// full stack alike (bench/HISTORY.md, "The young generation").
//
// --single-threaded-gc: a meshgate process is one event loop, sized to one
// core (`--workers` adds processes, not threads). By default V8 splits each
// young-generation collection over helper threads; where the process has one
// core (pinned, a CPU limit of one, or one worker per core) they only take
// turns with the event loop. Under the full-stack load they woke 0.023 times
// per request and preempted the event loop as often; a collection took
// 0.47 ms on average (at most 1.5) against 0.33 ms (at most 0.5) on one
// thread. Throughput stays level; p99.9 at full load falls by 35–50 % (bench/HISTORY.md,
// "Garbage collection on the event loop's thread"). A lone process with idle
// cores beside it gives up helpers that would shorten a ~0.3 ms pause a little.
export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=8', '--single-threaded-gc'])

/** Node flags for a worker: meshgate's own, then whatever the primary was started with (later flags win). */
export function workerExecArgv (execArgv: readonly string[]): string[] {
  return [...NODE_FLAGS, ...execArgv]
}
