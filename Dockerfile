# The predictor runtime as one image: the `predictor` binary, componentize-py for Python
# `Predict` scripts, and the bundled examples. The same image runs standalone
# (`docker run -p 8080:8080 IMAGE`: the examples on 0.0.0.0:8080) and as a KServe serving
# runtime (deploy/kserve/: KServe mounts the model at /mnt/models and passes its name).
#
#   docker build -t predictor-runtime .

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2 \
 && apt-get update && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# scripts/setup.sh: the example models (trained from scikit-learn's bundled iris data) and
# components (built from source), then the runtime itself.
RUN scripts/setup.sh \
 && cargo build --release --locked -p predictor-runtime --bin predictor \
 && strip target/release/predictor \
 && mkdir -p /out/examples \
 && for e in iris-onnx rust-predictor multi-model python-iris python-transformer python-sentiment; do \
      cp -r "examples/$e" /out/examples/; \
    done \
 && cp target/release/predictor /out/predictor

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/componentize \
 && /opt/componentize/bin/pip install --no-cache-dir componentize-py==0.25.1 \
 && useradd --system --uid 1000 --home-dir /var/lib/predictor --create-home predictor
COPY --from=build /out/predictor /usr/local/bin/predictor
COPY --from=build /out/examples /opt/predictor/examples
ENV PREDICTOR_COMPONENTIZE_PY=/opt/componentize/bin/componentize-py \
    PREDICTOR_DATA_DIR=/var/lib/predictor \
    PREDICTOR_LISTEN=0.0.0.0:8080
USER 1000
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/predictor"]
# Without API keys the server listens on loopback only; in a container, whatever publishes
# the port (a mesh, an ingress, KServe) authenticates, or pass PREDICTOR_API_KEYS.
CMD ["serve", "--allow-unauthenticated", \
     "--deploy", "/opt/predictor/examples/iris-onnx,/opt/predictor/examples/rust-predictor,/opt/predictor/examples/multi-model,/opt/predictor/examples/python-iris,/opt/predictor/examples/python-transformer,/opt/predictor/examples/python-sentiment"]
