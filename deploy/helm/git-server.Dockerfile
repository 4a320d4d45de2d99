# The image of the maestro-domain chart's optional Git server (gitServer.enabled): nginx, fcgiwrap
# and git's git-http-backend. The chart supplies nginx's configuration, the certificate, the htpasswd
# file and the repository volume, and runs it as a non-root user.
#   docker build -f deploy/helm/git-server.Dockerfile -t <registry>/maestro-git-server:<tag> deploy/helm
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light fcgiwrap git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
