# The Flotilla operator image, on the same Node line the project pins (Node 24 LTS). Sources run
# directly under Node's type stripping: the image carries the .ts files, no TypeScript build.
# It builds from a clean clone: the compiled contracts (contracts/build/, ignored by git and by
# .dockerignore) are made in the first stage. test/packaging/image.test.ts checks, without a
# container runtime, that every file the operator loads is copied or built here.
# Pin the base by digest in production (policy may require digest-pinned images).

# Stage 1: compile the Solidity contracts (solc-js and OpenZeppelin are dev dependencies).
FROM node:24-bookworm-slim AS contracts
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
COPY contracts ./contracts
RUN node contracts/build.ts

# Stage 2: the operator, with runtime dependencies only.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No dev tooling, no optional Node/anvil binaries (the image has Node).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY operator ./operator
COPY contracts/artifacts.ts ./contracts/artifacts.ts
COPY --from=contracts /build/contracts/build ./contracts/build
USER node
EXPOSE 8080 9443
ENTRYPOINT ["node", "operator/main.ts"]
