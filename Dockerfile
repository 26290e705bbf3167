# arm64 image with the device runner and the pinned runtimes, for `edgepipe emulate --engine docker`.
# The pins come from pipeline/device-requirements.txt, the same file the qemu sysroot builder reads.
#   docker build --platform linux/arm64 --tag edgepipe-runner:TAG .
FROM --platform=linux/arm64 python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
COPY pipeline/device-requirements.txt /opt/edgepipe/device-requirements.txt
RUN pip install --no-cache-dir --no-deps --only-binary=:all: --target /opt/edgepipe/site \
        -r /opt/edgepipe/device-requirements.txt
COPY pipeline/native/ /opt/edgepipe/native/
RUN mkdir -p /opt/edgepipe/bin && sh /opt/edgepipe/native/build-pte-runner.sh g++ \
        /opt/edgepipe/site/executorch /opt/edgepipe/bin/edgepipe-pte-runner '$ORIGIN/../site/executorch/lib'

FROM --platform=linux/arm64 python:3.11-slim-bookworm
COPY --from=build /opt/edgepipe/site /opt/edgepipe/site
COPY --from=build /opt/edgepipe/bin /opt/edgepipe/bin
COPY pipeline/runner.py /opt/edgepipe/runner.py
ENV PYTHONPATH=/opt/edgepipe/site \
    EDGEPIPE_PTE_RUNNER=/opt/edgepipe/bin/edgepipe-pte-runner
CMD ["python3", "/opt/edgepipe/runner.py", "--help"]
