# syntax=docker/dockerfile:1
# kcr: one image, one binary, a sub-command per component (`kcr webhook`, `kcr controller`,
# `kcr agent`). Build: docker build -t <registry>/kcr:0.1.0 .
#
# The sources are TypeScript with erasable syntax only (no enums, namespaces or parameter
# properties, see tsconfig.json): Node.js 24 could run them directly, but its type stripper
# costs each process about 30 MiB of memory, so the image runs them compiled (npm run build,
# tsconfig.build.json: the same modules, types erased, .ts imports rewritten to .js).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY webhooks ./webhooks
COPY certs ./certs
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. The `node` devDependency (the npm-packaged runtime used for
# development) is left out: the base image already is Node.js 24.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# build/src, build/webhooks, build/certs: the compiled runtime, as src/, webhooks/, certs/.
COPY --from=build /app/build/ ./
# The distroless "nonroot" uid; the manifests set the same runAsUser and runAsNonRoot.
USER 65532:65532
# Node runs as PID 1: the kernel gives PID 1 no default signal actions, so each sub-command
# installs its own SIGTERM handler for a graceful shutdown.
ENTRYPOINT ["node", "src/main.js"]
CMD ["--help"]
