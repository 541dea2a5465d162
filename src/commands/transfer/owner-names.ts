import { readFileSync } from 'node:fs';

/**
 * User and group names by id, from /etc/passwd and /etc/group, for the `uname` and `gname`
 * fields of tar headers. Python's tarfile fills them with `pwd.getpwuid` / `grp.getgrgid`;
 * a master running as root then looks each name up again when it unpacks
 * (`TarFile.chown`). An empty name is not skipped there: it is a failed lookup per member,
 * a scan of the whole database plus an exception, which made a directory upload of small
 * files cost the master far more CPU than the same tar with names (see bench/README.md).
 * Ids without an entry get '' (as in Python, where the lookup raises KeyError).
 */
export class OwnerNames {
  private readonly users: Map<number, string>;
  private readonly groups: Map<number, string>;

  constructor(passwd = '/etc/passwd', group = '/etc/group') {
    this.users = readIdFile(passwd);
    this.groups = readIdFile(group);
  }

  user(uid: number): string {
    return this.users.get(uid) ?? '';
  }

  group(gid: number): string {
    return this.groups.get(gid) ?? '';
  }
}

/** `name:x:id:...` lines → id → first name with that id (what getpwuid/getgrgid return). */
function readIdFile(file: string): Map<number, string> {
  const byId = new Map<number, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return byId; // no database: every name is empty, as with a failed lookup
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const id = Number(fields[2]);
    if (fields.length < 3 || fields[2] === '' || !Number.isInteger(id)) continue;
    if (!byId.has(id)) byId.set(id, fields[0]!);
  }
  return byId;
}
