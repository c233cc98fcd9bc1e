// Import graph of src/ for the layering rule (node scripts/import-graph.mjs [repo]): imports that run back up a layer, cycles, verifyManifest call sites, CLI files touching the store. Regex-based, so approximate.
import fs from 'node:fs'; import path from 'node:path';
const root = process.argv[2] ?? process.cwd();
const src = path.join(root, 'src');
const files = [];
const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(p); } };
walk(src);
const rank = { core: 0, trust: 1, adapters: 2, gossip: 3, stages: 3, node: 3, ota: 3, http: 4, runtime: 5, services: 6, tools: 7, mcp: 8, cli: 9, demo: 9, types: 0 };
const layer = (f) => path.relative(src, f).split(path.sep)[0];
const graph = new Map(); const back = [];
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  const deps = [];
  // static imports and re-exports, and dynamic import('./x.js') (a lazy load is still a dependency)
  for (const m of text.matchAll(/(?:(?:import|export)\s[^'"]*?from\s+|import\(\s*)['"](\.[^'"]+)['"]/g)) {
    const t = path.resolve(path.dirname(f), m[1]).replace(/\.js$/, '.ts');
    if (!fs.existsSync(t)) continue;
    const isType = /^(?:import|export)\s+type\s/.test(m[0]);
    const lazy = m[0].startsWith('import(');
    // a lazy load is no initialisation cycle (tools load their registry lazily), but it is a layer crossing
    if (!lazy) deps.push(t);
    const a = rank[layer(f)], b = rank[layer(t)];
    if (b > a) back.push(`${path.relative(src, f)} -> ${path.relative(src, t)}${isType ? ' (type)' : lazy ? ' (lazy)' : ''}`);
  }
  graph.set(f, deps);
}
// tarjan
let idx = 0; const st = []; const on = new Set(); const ix = new Map(); const low = new Map(); const sccs = [];
const strong = (v) => { ix.set(v, idx); low.set(v, idx); idx++; st.push(v); on.add(v);
  for (const w of graph.get(v) ?? []) { if (!ix.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); } else if (on.has(w)) low.set(v, Math.min(low.get(v), ix.get(w))); }
  if (low.get(v) === ix.get(v)) { const c = []; let w; do { w = st.pop(); on.delete(w); c.push(w); } while (w !== v); if (c.length > 1) sccs.push(c.map((x) => path.relative(src, x))); } };
for (const f of files) if (!ix.has(f)) strong(f);
const verifyCalls = files.flatMap((f) => (fs.readFileSync(f, 'utf8').match(/verifyManifest\(/g) ?? []).map(() => path.relative(src, f))).filter((f) => !f.startsWith('trust/verify-manifest'));
const cliStore = files.filter((f) => layer(f) === 'cli' && /store\(\)|\.store\b|adapters\/sqlite/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(src, f));
const sqliteImporters = files.filter((f) => ['stages', 'node', 'http'].includes(layer(f)) && /adapters\/sqlite/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(src, f));
console.log(JSON.stringify({ files: files.length, back_imports: back.length, back, cycles: sccs, verifyManifest_call_sites: verifyCalls.length, verifyCalls, cli_files_touching_store: cliStore.length, cliStore, stages_node_http_importing_sqlite: sqliteImporters.length, sqliteImporters }, null, 1));
