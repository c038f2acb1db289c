"""The same predictor as Hopsworks users deploy it today (scikit-learn + joblib). The bench
serves this one with the KServe Python server, as the peer; it cannot run in the sandbox
(scikit-learn is a native extension), which `predictor build` says in so many words."""

import os

import joblib


class Predict(object):
    def __init__(self):
        """Initialization code goes here: load the model."""
        self.model = joblib.load(os.environ["ARTIFACT_FILES_PATH"] + "/model.joblib")

    def predict(self, inputs):
        """Serve predictions using the trained model."""
        return self.model.predict(inputs).tolist()
