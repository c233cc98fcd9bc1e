// How a child runs as another user. A root daemon lets libuv setgid/setuid in the child: the
// kernel clears every capability when all uids leave 0. A daemon that is not root but holds
// CAP_SETUID/CAP_SETGID (the installed authority, README "Install as systemd units") keeps
// its capabilities across that switch, ambient ones included, so the child would read the
// keys with CAP_DAC_OVERRIDE: it goes through setpriv, which drops them before the exec.

export interface UserSwitch {
  file: string;
  args: string[];
  /** spawn options: the uid and gid for libuv, or none when setpriv switches. */
  ids: { uid?: number; gid?: number };
}

export function switchUser(file: string, args: string[], uid: number | undefined, gid: number | undefined): UserSwitch {
  if (uid === undefined || process.getuid?.() === 0) {
    return { file, args, ids: { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) } };
  }
  const group = gid === undefined ? [] : ['--regid', String(gid)];
  return {
    file: 'setpriv',
    args: ['--reuid', String(uid), ...group, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--', file, ...args],
    ids: {},
  };
}
