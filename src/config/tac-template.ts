import { pyRepr, pyReprOptional } from './python-literal.js';

/**
 * The buildbot.tac that Python's `buildbot-worker create-worker` writes
 * (`scripts/create_worker.py workerTACTemplate`, `docs/python-worker.md` §3), byte for byte, so that
 * Python tools recognise the directory and the Python worker could run it too.
 */

/** The create-worker values in the form Python substitutes them (raw strings stay raw). */
export interface TacValues {
  /** Absolute basedir, or '.' for --relocatable. */
  basedir: string;
  logSize: number;
  /** Written raw (`%s`): a number or `None`. */
  logCount: string;
  noLogrotate: boolean;
  host: string;
  port: number;
  connectionString: string | null;
  name: string;
  passwd: string;
  keepalive: number;
  /** Raw: `None`, `0o22`, `18` … */
  umask: string;
  maxdelay: number;
  numcpus: string;
  allowShutdown: string | null;
  maxretries: string;
  useTls: boolean;
  deleteLeftoverDirs: boolean;
  proxyConnectionString: string | null;
  protocol: string;
  /**
   * Health/metrics endpoint port; written as a top-level `metrics_port = N` after the
   * Worker(...) call, so Python's Worker never receives it. Absent/null: not written.
   */
  metricsPort?: number | null;
}

/** The line `isWorkerDir` looks for. */
export const TAC_MARKER = "Application('buildbot-worker')";

const flag = (b: boolean) => (b ? '1' : '0');

export function makeTac(v: TacValues): string {
  const parts: string[] = [];
  parts.push(`
import os

from buildbot_worker.bot import Worker
from twisted.application import service

basedir = ${pyRepr(v.basedir)}
rotateLength = ${Math.trunc(v.logSize)}
maxRotatedFiles = ${v.logCount}

# if this is a relocatable tac file, get the directory containing the TAC
if basedir == '.':
    import os.path
    basedir = os.path.abspath(os.path.dirname(__file__))

# note: this line is matched against to check that this is a worker
# directory; do not edit it.
application = service.Application('buildbot-worker')
`);
  if (!v.noLogrotate) {
    parts.push(`
from twisted.python.logfile import LogFile
from twisted.logger import ILogObserver
from twisted.logger import textFileLogObserver
from twisted.logger import LogLevelFilterPredicate
from twisted.logger import FilteringLogObserver
logfile = LogFile.fromFullPath(
    os.path.join(basedir, "twistd.log"), rotateLength=rotateLength,
    maxRotatedFiles=maxRotatedFiles)
application.setComponent(
    ILogObserver,
    FilteringLogObserver(
        textFileLogObserver(logfile), predicates=[LogLevelFilterPredicate()]
    ),
)
`);
  }
  if (!v.connectionString) {
    parts.push(`
buildmaster_host = ${pyRepr(v.host)}
port = ${Math.trunc(v.port)}
connection_string = None
`);
  } else {
    parts.push(`
buildmaster_host = None  # ${pyRepr(v.host)}
port = None  # ${Math.trunc(v.port)}
connection_string = ${pyRepr(v.connectionString)}
`);
  }
  parts.push(`
workername = ${pyRepr(v.name)}
passwd = ${pyRepr(v.passwd)}
keepalive = ${Math.trunc(v.keepalive)}
umask = ${v.umask}
maxdelay = ${Math.trunc(v.maxdelay)}
numcpus = ${v.numcpus}
allow_shutdown = ${pyReprOptional(v.allowShutdown)}
maxretries = ${v.maxretries}
use_tls = ${flag(v.useTls)}
delete_leftover_dirs = ${flag(v.deleteLeftoverDirs)}
proxy_connection_string = ${pyReprOptional(v.proxyConnectionString)}
protocol = ${pyRepr(v.protocol)}

s = Worker(buildmaster_host, port, workername, passwd, basedir,
           keepalive, umask=umask, maxdelay=maxdelay,
           numcpus=numcpus, allow_shutdown=allow_shutdown,
           maxRetries=maxretries, protocol=protocol, useTls=use_tls,
           delete_leftover_dirs=delete_leftover_dirs,
           connection_string=connection_string,
           proxy_connection_string=proxy_connection_string)
s.setServiceParent(application)
`);
  if (v.metricsPort !== undefined && v.metricsPort !== null) {
    parts.push(`
# health and metrics endpoint of the Node.js worker (http://127.0.0.1:PORT/metrics); the Python worker ignores it
metrics_port = ${Math.trunc(v.metricsPort)}
`);
  }
  return parts.join('');
}
