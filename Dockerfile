# A Debian 12 image with adaensemble built by the same set-up the README's
# commands run. Build: docker build -t adaensemble .
# Main job:  docker run --rm adaensemble scripts/run.sh
# Tests:     docker run --rm -v /path/to/shared:/shared adaensemble scripts/test.sh
# (the tests that read the real samples look in ../shared/data from the
# project root, /shared/data here, and skip with a message when it is absent).
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /adaensemble
COPY . .
# Installs the Debian packages, selects OpenBLAS and builds into build/.
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*
CMD ["bash", "scripts/run.sh"]
