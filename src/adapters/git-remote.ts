// How a git remote is shown, in a module of its own: status and readiness name the source
// without loading simple-git (adapters/git.ts).

/** A remote as messages and logs name it: credentials in an https URL must not go with it. */
export function shownRemote(remote: string): string {
  return remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
