// Which host names stay on this machine. Pure: decides from the text alone.

// 127.0.0.0/8, ::1 and the name reserved for them (RFC 6761); any other name may resolve anywhere.
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
