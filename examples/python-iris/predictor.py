"""A Hopsworks predictor script, as users write it, with one change: the model is the
ONNX export of the estimator, loaded with predictor_runtime.Model instead of joblib.

    - import joblib
    + from predictor_runtime import Model
    - self.model = joblib.load(os.environ["ARTIFACT_FILES_PATH"] + "/model.joblib")
    + self.model = Model.load(os.environ["ARTIFACT_FILES_PATH"] + "/model.onnx")

The model runs natively in the host (tract); this script runs in the sandbox.
"""

import os

from predictor_runtime import Model


class Predict(object):
    def __init__(self):
        """Initialization code goes here: load the model."""
        self.model = Model.load(os.environ["ARTIFACT_FILES_PATH"] + "/model.onnx")
        print("iris model loaded for", os.environ["DEPLOYMENT_NAME"])

    def predict(self, inputs):
        """Serve predictions using the trained model."""
        return self.model.predict(inputs).tolist()
