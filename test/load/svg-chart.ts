// A small bar chart as plain SVG text: per contestant, a req/s bar and a thinner
// p99 bar (each scaled to its own maximum), values written beside the bars.
import type { RowSummary } from './report.js'

const WIDTH = 900
const LABEL_W = 300
const BAR_W = 380
const ROW_H = 44
const TOP = 76
const RPS_COLOR = '#3b6fb6'
const P99_COLOR = '#e08a2c'

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function text (x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x}" y="${y}" ${attrs}>${escapeXml(s)}</text>`
}

export function renderChart (title: string, subtitles: readonly string[], rows: readonly RowSummary[]): string {
  const maxRps = Math.max(1, ...rows.map(r => r.rps))
  const maxP99 = Math.max(0.001, ...rows.map(r => r.p99Ms))
  const height = TOP + rows.length * ROW_H + 44
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(12, 22, title, 'font-size="15" font-weight="bold"'),
    ...subtitles.map((line, i) => text(12, 40 + i * 16, line, 'fill="#555555"'))
  ]
  rows.forEach((r, i) => {
    const y = TOP + i * ROW_H
    const rpsW = Math.max(1, (r.rps / maxRps) * BAR_W)
    const p99W = Math.max(1, (r.p99Ms / maxP99) * BAR_W)
    out.push(
      text(LABEL_W - 8, y + 13, r.label, 'text-anchor="end"'),
      text(LABEL_W - 8, y + 27, r.tool, 'text-anchor="end" fill="#777777" font-size="10"'),
      `<rect x="${LABEL_W}" y="${y}" width="${rpsW.toFixed(1)}" height="16" fill="${RPS_COLOR}"/>`,
      text(LABEL_W + rpsW + 6, y + 12, `${Math.round(r.rps).toLocaleString('en-US')} req/s`),
      `<rect x="${LABEL_W}" y="${y + 19}" width="${p99W.toFixed(1)}" height="8" fill="${P99_COLOR}"/>`,
      text(LABEL_W + p99W + 6, y + 27, `p99 ${r.p99Ms.toFixed(2)} ms`, 'font-size="10"')
    )
  })
  const ly = TOP + rows.length * ROW_H + 14
  out.push(
    `<rect x="${LABEL_W}" y="${ly}" width="12" height="10" fill="${RPS_COLOR}"/>`,
    text(LABEL_W + 18, ly + 9, 'requests/s, median of rounds (longer is better)'),
    `<rect x="${LABEL_W}" y="${ly + 14}" width="12" height="6" fill="${P99_COLOR}"/>`,
    text(LABEL_W + 18, ly + 21, 'p99 latency (shorter is better)', 'font-size="10"'),
    '</svg>'
  )
  return out.join('\n') + '\n'
}
