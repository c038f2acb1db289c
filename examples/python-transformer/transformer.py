"""A Hopsworks transformer in front of a model served natively (no predictor script):
clients send named measurements and get species names back.

preprocess receives the request body and returns the body the model gets; postprocess
receives the model's response body and returns the client's.
"""

import os

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]


class Transformer(object):
    def __init__(self):
        """Initialization code goes here."""
        print("transformer ready for", os.environ["DEPLOYMENT_NAME"])

    def preprocess(self, inputs):
        """Named measurements (in cm) -> the model's feature rows."""
        rows = [[float(flower[name]) for name in FEATURES] for flower in inputs["instances"]]
        return {"instances": rows}

    def postprocess(self, outputs):
        """Class indices -> species names, with the probability of the chosen class."""
        labels = outputs["predictions"]
        return {
            "predictions": [
                {"species": SPECIES[row["label"]], "probability": round(max(row["probabilities"]), 4)}
                for row in labels
            ]
        }
