# syntax=docker/dockerfile:1
# kcr: one image, one binary, a sub-command per component (`kcr webhook`, `kcr controller`,
# `kcr agent`). Build: docker build -t <registry>/kcr:0.1.0 .
#
# No compile step: Node.js 24 runs the TypeScript sources directly by stripping the type
# annotations (the code uses only erasable syntax: no enums, namespaces or parameter
# properties, see tsconfig.json). Type stripping does not apply under node_modules, which only
# holds published JavaScript.

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
COPY src ./src
COPY webhooks ./webhooks
COPY certs ./certs
# The distroless "nonroot" uid; the manifests set the same runAsUser and runAsNonRoot.
USER 65532:65532
# Node runs as PID 1: the kernel gives PID 1 no default signal actions, so each sub-command
# installs its own SIGTERM handler for a graceful shutdown.
ENTRYPOINT ["node", "src/main.ts"]
CMD ["--help"]
