# buildbot-worker (TypeScript) container image, a drop-in for buildbot/buildbot-worker:
# the same environment contract (BUILDMASTER, BUILDMASTER_PORT, BUILDMASTER_PROTOCOL,
# WORKERNAME, WORKERPASS or WORKERPASS_FILE, WORKER_ENVIRONMENT_BLACKLIST, BUILDBOT_BASEDIR),
# logs on stdout, user buildbot, basedir /buildbot. Used by DockerLatentWorker and the
# Kubernetes/other latent workers unchanged.
#
#   docker build -t buildbot-worker-ts .
#   podman build -t buildbot-worker-ts .
#
# BASE is any Debian-based image with Node 20+ and npm (default: the official image). Without a
# registry, scripts/container-base.sh makes one from Debian trixie:
#   podman build --pull=never --network=host --build-arg BASE=localhost/buildbot-worker-ts-base:trixie .
#   docker run -e BUILDMASTER=master.example.org -e WORKERNAME=w1 -e WORKERPASS=secret buildbot-worker-ts
#
# Stopping: `docker stop` sends SIGTERM, which drains (running commands finish, the master is
# asked to start nothing new); give it time with `docker stop -t <seconds>` /
# `stop_grace_period`, or send SIGTERM twice to interrupt the build.

ARG BASE=node:20-bookworm-slim

# --- build: compile the TypeScript and build node-pty (native) for this platform ---
FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/buildbot-worker
COPY package.json package-lock.json tsconfig*.json ./
# --ignore-scripts: the package's own `prepare` (the build for git installs) is not what runs
# here; the compiler needs no native addon either.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY scripts/bundle.js ./scripts/
# Only src and the bundling script are in the build context (.dockerignore): the sources the
# image runs, not the tests. The image runs the bundle, as the npm package does (README "Install").
RUN if [ -f tsconfig.build.json ]; then npx tsc -p tsconfig.build.json; else npx tsc -p tsconfig.json; fi \
 && node scripts/bundle.js && test -f dist/bundle/main.js
# Runtime dependencies only; `npm rebuild` runs their install scripts (node-pty's native build),
# not the package's own. node-pty loads build/Release first: its prebuilt binaries for other
# platforms (58 MB) and the sources it was built from are not needed at run time.
RUN rm -rf node_modules && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild && npm cache clean --force \
 && rm -rf node_modules/node-pty/prebuilds node_modules/node-pty/deps node_modules/node-pty/third_party \
 && node -e "require('node-pty').spawn('true', []).onExit(({ exitCode }) => process.exit(exitCode))"

# --- runtime: no compilers, no sources, no dev dependencies ---
FROM ${BASE}
# tini is PID 1: it reaps the orphans builds leave behind (Node cannot wait() for processes it
# did not spawn) and forwards SIGTERM/SIGINT to the worker. git and friends are what most
# builds need first; extend this image for the rest. bzip2 compresses DirectoryUpload's
# compress='bz2'.
# apt-get clean: the downloaded packages (about 90 MB) stay in the layer otherwise; images
# with Debian's docker-clean hook drop them anyway, a debootstrapped base does not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates git curl bzip2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --create-home --home-dir /home/buildbot --shell /bin/bash buildbot \
 && mkdir /buildbot && chown buildbot:buildbot /buildbot
COPY --from=build /opt/buildbot-worker/node_modules /opt/buildbot-worker/node_modules
COPY --from=build /opt/buildbot-worker/dist/bundle /opt/buildbot-worker/dist/bundle
COPY package.json /opt/buildbot-worker/
COPY bin /opt/buildbot-worker/bin
COPY www /opt/buildbot-worker/www

ENV BUILDBOT_BASEDIR=/buildbot \
    BUILDMASTER=localhost \
    BUILDMASTER_PORT=9989 \
    BUILDMASTER_PROTOCOL=pb \
    WORKERNAME=docker \
    WORKER_ENVIRONMENT_BLACKLIST="WORKERPASS WORKERPASS_FILE" \
    NODE_ENV=production

USER buildbot
WORKDIR /buildbot
# No `-g`: SIGTERM goes to the worker only, which drains; builds run in their own process
# groups and are stopped by the worker.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "/opt/buildbot-worker/bin/worker.js", "start", "--nodaemon", "/buildbot"]
