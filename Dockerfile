# The Flotilla operator image, on the same Node line the project pins (Node 24 LTS). Sources run
# directly under Node's type stripping, so there is no build stage: the image carries the .ts files.
# Pin the base by digest in production (policy may require digest-pinned images).
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only: no dev tooling, no optional Node/anvil binaries (the image has Node).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY operator ./operator
COPY contracts ./contracts
USER node
EXPOSE 8080 9443
ENTRYPOINT ["node", "operator/main.ts"]
