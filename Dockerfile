# jobsd container image: built with the same scripts as CI, run as a
# non-root user on debian:bookworm-slim.
#
#   docker build -t jobsd .            (or: docker-compose build)
#   docker run -d -p 127.0.0.1:8080:8080 -v jobsd-state:/var/lib/jobsd jobsd
#
# The default config is etc/jobsd.docker.yaml; mount another over
# /etc/jobsd/jobsd.yaml. SIGHUP reloads it (docker kill -s HUP CONTAINER).

# ---------------------------------------------------------------- build
FROM debian:bookworm-slim AS build
ENV CI=true DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Dependencies first, so that a source change does not reinstall them.
COPY scripts/bootstrap scripts/bootstrap
COPY package.json package-lock.json ./
RUN bash scripts/bootstrap && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash scripts/build -DJOBSD_TESTS=OFF -DJOBSD_BENCH=OFF \
 && build/daemon/jobsd check -c etc/jobsd.docker.yaml \
 && strip -o /jobsd build/daemon/jobsd

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim
# The shared libraries jobsd links (readelf -d NEEDED -> ldd -> dpkg -S;
# libboost-container is Boost.JSON's, linked by builds that do not inline it;
# tests/integration/docker_files_test.py fails when one is missing; libarchive13
# is lib/archive's, for the jobs that extract artifacts and the backups;
# libpq5 is lib/pg's, for the jobs that write PostgreSQL; libargon2-1 is
# lib/crypto's, for password hashing), postgresql-client
# (pg_dump and pg_restore, for backups of PostgreSQL sources), tzdata for cron time
# zones, libcurl4 (loaded when the first email alert goes out), CA
# certificates for HTTPS upstreams, curl for the HEALTHCHECK, and
# tini as PID 1: it forwards signals to jobsd and reaps what command jobs
# leave behind.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libstdc++6 libsqlite3-0 libdate-tz3 libyaml-cpp0.7 libyaml-0-2 libssl3 libspdlog1.10 libfmt9 \
      libsystemd0 libboost-json1.81.0 libboost-container1.81.0 libboost-url1.81.0 zlib1g libcurl4 \
      libarchive13 libpq5 libargon2-1 postgresql-client \
      tzdata ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/jobsd --shell /usr/sbin/nologin jobsd \
 && install -d -o jobsd -g jobsd -m 0750 /var/lib/jobsd /data \
 && install -d -m 0755 /etc/jobsd
COPY --from=build /jobsd /usr/local/bin/jobsd
COPY etc/jobsd.docker.yaml /etc/jobsd/jobsd.yaml
COPY etc/jobsd.yaml /usr/share/doc/jobsd/examples/jobsd.yaml

USER jobsd
WORKDIR /var/lib/jobsd
ENV JOBSD_CONFIG=/etc/jobsd/jobsd.yaml
# State (the SQLite run history) and the jobs' data.
VOLUME ["/var/lib/jobsd", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS --max-time 4 -o /dev/null http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/jobsd"]
CMD ["run", "-c", "/etc/jobsd/jobsd.yaml"]
