# meshgate container image, on Node.js 24 LTS.
#   docker build -t meshgate .
#   docker run -p 8080:8080 -v "$PWD/config/examples/quickstart:/etc/meshgate:ro" meshgate
# Any `serve` flag can follow the image name (they replace the CMD below), e.g.
#   docker run ... meshgate --config /etc/meshgate --admin-host 0.0.0.0 --redis redis://redis:6379
# The admin listener binds 127.0.0.1 unless --admin-host says otherwise, so port
# 15000 is reachable from outside the container only with `--admin-host 0.0.0.0`.

# --- build: compile TypeScript and the re2 native addon (needs python3, make, g++) ---
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY config ./config
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: the compiled gateway, production dependencies only, non-root ---
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
# Config is mounted here (a folder of Istio YAML); the files stay owned by root
# and read-only for the gateway's user.
RUN mkdir -p /etc/meshgate
USER node
EXPOSE 8080 15000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:15000/healthz/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests, then exits 0. The Node flags
# are meshgate's own (src/cli/node-flags.ts): the young generation's size, and
# garbage collection on the event loop's own thread.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=8", "--single-threaded-gc", "/app/bin/meshgate.js", "serve"]
CMD ["--config", "/etc/meshgate"]
