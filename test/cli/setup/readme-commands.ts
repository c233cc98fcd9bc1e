// The `upshift ...` commands a Markdown text shows: in shell code blocks (continuations
// joined, comments and prompts dropped, `&&`/`;`/`|` split) and in inline code spans,
// where `a|b` alternatives expand and `[...]` marks optional parts.

export interface ReadmeCommand {
  line: number;
  /** The words after `upshift`. */
  args: string[];
}

const SHELL_BLOCK = /^(sh|bash|console|shell)?$/;
const PREFIXES = [['upshift'], ['node', 'dist/src/cli/main.js'], ['npx', 'upshift']];

function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

function afterPrefix(ws: string[]): string[] | null {
  for (const prefix of PREFIXES) {
    if (prefix.every((p, i) => ws[i] === p)) return ws.slice(prefix.length);
  }
  return null;
}

function fromShell(command: string, line: number): ReadmeCommand[] {
  const out: ReadmeCommand[] = [];
  for (const part of command.split(/&&|\|\||;|\|/)) {
    const text = part.trim().replace(/^\$\s+/, '').replace(/\[(-[^\]]*)\]/g, '$1');
    const args = afterPrefix(words(text));
    if (args) out.push({ line, args });
  }
  return out;
}

/** Expand `a|b` alternatives in command words; drop `[`, `]` and `...`. */
function fromInline(span: string, line: number): ReadmeCommand[] {
  const ws = words(span.replace(/[[\]]/g, ' ')).filter((w) => w !== '...' && w !== '…');
  const args = afterPrefix(ws);
  if (!args || args.length === 0) return []; // the program's name in prose
  let variants: string[][] = [[]];
  for (const w of args) {
    const alts = !w.startsWith('-') && w.includes('|') ? w.split('|').filter(Boolean) : [w];
    variants = variants.flatMap((v) => alts.map((a) => [...v, a]));
  }
  return variants.map((v) => ({ line, args: v }));
}

export function readmeCommands(markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n');
  const out: ReadmeCommand[] = [];
  let block: string | null = null;
  let pending = '';
  let pendingLine = 0;
  lines.forEach((raw, idx) => {
    const fence = /^```\s*(\S*)/.exec(raw);
    if (fence) {
      block = block === null ? (fence[1] ?? '') : null;
      return;
    }
    if (block !== null) {
      if (!SHELL_BLOCK.test(block)) return;
      const text = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
      if (!pending) pendingLine = idx + 1;
      if (text.endsWith('\\')) {
        pending += text.slice(0, -1) + ' ';
        return;
      }
      out.push(...fromShell(pending + text, pendingLine));
      pending = '';
      return;
    }
    for (const m of raw.matchAll(/`([^`]+)`/g)) out.push(...fromInline(m[1] as string, idx + 1));
  });
  return out;
}
