/**
 * Summarizes V8 .cpuprofile files (node --cpu-prof) into the top functions by self time and
 * the share per package, so docs/BENCHMARKS.md can say where a saver's time goes.
 * Run: npx tsx bench/suite/profile-summary.ts <dir-or-files...> [--top 15]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  samples?: number[];
  timeDeltas?: number[];
}

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx >= 0 ? Number(args[topIdx + 1]) : 15;
const inputs = args.filter((a, i) => !a.startsWith('--') && (topIdx < 0 || i !== topIdx + 1));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(p, f)) : [p]));

const selfMs = new Map<string, number>();
const byPackage = new Map<string, number>();
let total = 0;
const where = (url: string): string => {
  if (url === '') return '(native / idle / gc)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node core';
  const m = /\/work\/[^/]+\/(src|bench|consumers)\//.exec(url);
  return m ? `threadlog ${m[1]}` : 'other';
};
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]!);
    if (!n) continue;
    const ms = (deltas[i] ?? 0) / 1000;
    const cf = n.callFrame;
    // waiting is not where the time goes: shares are of the busy samples
    if (cf.functionName === '(idle)') continue;
    total += ms;
    const key = `${cf.functionName || '(anonymous)'}  ${cf.url ? `${cf.url.replace(/^file:\/\/\/work\/[^/]+\//, '')}:${cf.lineNumber + 1}` : ''}`;
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    byPackage.set(where(cf.url), (byPackage.get(where(cf.url)) ?? 0) + ms);
  }
}
const pct = (ms: number): string => `${((ms / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`${files.length} profile(s), ${(total / 1000).toFixed(1)} s busy (idle samples left out)\n\nby package (self time):`);
for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${pct(v)}  ${k}`);
console.log(`\ntop ${top} functions (self time):`);
for (const [k, v] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
