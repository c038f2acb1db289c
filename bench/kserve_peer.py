"""The peer users would otherwise pick: KServe's Python model server.

Two ways, as Hopsworks users deploy:
- a Hopsworks predictor script: the script's `Predict` class is created once (its `__init__`
  loads the model from ARTIFACT_FILES_PATH) and its `predict(inputs)` gets each request's
  `instances`, wrapped in a `kserve.Model`;
- an ONNX model (`--onnx FILE`) run with onnxruntime, `instances` in, `predictions` out.

`--max-batch-size N --max-latency-ms MS` turns on KServe's batcher. KServe runs it in its Go
model agent, a sidecar proxy that is not on PyPI; this is the same algorithm in process
(which spares the peer the sidecar's extra HTTP hop): instances are collected until N of
them or MS since the first, then predicted in one call and handed back by count.

Usage: kserve_peer.py (SCRIPT ARTIFACT_DIR | --onnx FILE) --http_port PORT [--name NAME]
       [--max-batch-size N --max-latency-ms MS]
"""

import argparse
import asyncio
import importlib.util
import os

import kserve


def load_predict_class(script):
    spec = importlib.util.spec_from_file_location("hopsworks_predictor", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "Predict", None) or getattr(module, "Predictor")


class OnnxPredict:
    """An ONNX graph with onnxruntime: the rows of `instances` in, its first output out."""

    def __init__(self, path):
        import numpy as np
        import onnxruntime

        self.np = np
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict(self, instances):
        x = self.np.asarray(instances, dtype=self.np.float32)
        return self.session.run(None, {self.input: x})[0].tolist()


class Batcher:
    """KServe's batcher (model agent `pkg/batcher`): instances collected until
    `max_batch_size` of them or `max_latency` since the first, one predict, split by count."""

    def __init__(self, predict, max_batch_size, max_latency_ms):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.waiting = []  # (instances, future)
        self.count = 0
        self.timer = None

    async def submit(self, instances):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((instances, future))
        self.count += len(instances)
        if self.count >= self.max_batch_size:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.max_latency, self.flush)
        return await future

    def flush(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.waiting, self.count = self.waiting, [], 0
        if not batch:
            return
        merged = [row for instances, _ in batch for row in instances]
        try:
            predictions = self.predict(merged)
        except Exception as e:  # every member gets the batch's error, as in KServe
            for _, future in batch:
                future.set_exception(e)
            return
        start = 0
        for instances, future in batch:
            future.set_result(predictions[start:start + len(instances)])
            start += len(instances)


class HopsworksPredictor(kserve.Model):
    def __init__(self, name, make_predictor, batching):
        super().__init__(name)
        self.make_predictor = make_predictor
        self.batching = batching
        self.predictor = None
        self.batcher = None
        self.load()

    def load(self):
        self.predictor = self.make_predictor()
        if self.batching:
            self.batcher = Batcher(self.predictor.predict, *self.batching)
        self.ready = True
        return self.ready

    async def predict(self, payload, headers=None):
        if self.batcher is not None:
            return {"predictions": await self.batcher.submit(payload["instances"])}
        result = self.predictor.predict(payload["instances"])
        return result if isinstance(result, dict) else {"predictions": result}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("script", nargs="?")
    parser.add_argument("artifact_dir", nargs="?")
    parser.add_argument("--onnx")
    parser.add_argument("--name", default="iris")
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--max-latency-ms", type=float)
    args, _ = parser.parse_known_args()
    if args.onnx:
        path = os.path.abspath(args.onnx)
        make = lambda: OnnxPredict(path)  # noqa: E731
    else:
        os.environ["ARTIFACT_FILES_PATH"] = os.path.abspath(args.artifact_dir)
        os.environ.setdefault("DEPLOYMENT_NAME", args.name)
        make = load_predict_class(os.path.abspath(args.script))
    batching = (args.max_batch_size, args.max_latency_ms) if args.max_batch_size else None
    model = HopsworksPredictor(args.name, make, batching)
    kserve.ModelServer(http_port=args.http_port, workers=1).start([model])
