# The master refuses to start its web server without a 'base' www plugin, which Debian does
# not package (buildbot-www). This one serves no UI: it only lets the REST API (/api/v2) run,
# which the interop tests and benchmarks use to force builds and read their results.
from buildbot.www.plugin import Application

ep = Application(__name__, "REST API only, no UI (test plugin)")
