// How many inotify watches this process holds, as the kernel counts them: one `inotify wd:`
// line per watch in /proc/self/fdinfo of each inotify descriptor. Tests of the tree watch
// compare it with a baseline to show every watcher was closed (none leaked).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function kernelWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor readdir itself used, closed by now
    }
    if (target !== 'anon_inode:inotify') continue;
    n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return n;
}
