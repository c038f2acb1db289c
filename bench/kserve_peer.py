"""The peer users would otherwise pick: KServe's Python model server, serving the same iris
model the way a Hopsworks user deploys it: a `Predict` class that loads the scikit-learn
estimator with joblib in `__init__` and answers `predict(inputs)`, wrapped in a
`kserve.Model`.

Usage: kserve_peer.py MODEL_JOBLIB --http_port PORT
"""

import argparse
import os

import joblib
import kserve


class Predict(object):
    """A Hopsworks-style predictor script."""

    def __init__(self, model_path):
        self.model = joblib.load(model_path)

    def predict(self, inputs):
        return self.model.predict(inputs).tolist()


class HopsworksPredictor(kserve.Model):
    def __init__(self, name, model_path):
        super().__init__(name)
        self.model_path = model_path
        self.predictor = None
        self.load()

    def load(self):
        self.predictor = Predict(self.model_path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        return {"predictions": self.predictor.predict(payload["instances"])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("model_path")
    args, _ = parser.parse_known_args()
    model = HopsworksPredictor("iris", os.path.abspath(args.model_path))
    kserve.ModelServer(http_port=args.http_port, workers=1).start([model])
