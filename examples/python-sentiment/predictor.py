"""A pure-Python predictor with no model file: a small sentiment lexicon scores each text.

It shows what a script can do in the sandbox on its own (the standard library, its
environment variables, the deployment's log) and what a predictor answers when its
result is a dict: the body itself, as KServe does.
"""

import os
import re

from predictor_runtime import BadInput, log

POSITIVE = {"good", "great", "excellent", "love", "happy", "fast", "fine", "nice", "best", "wonderful"}
NEGATIVE = {"bad", "terrible", "awful", "hate", "sad", "slow", "broken", "worst", "poor", "angry"}
WORD = re.compile(r"[a-z']+")


class Predict(object):
    def __init__(self):
        self.threshold = float(os.environ.get("SENTIMENT_THRESHOLD", "0"))
        log.info(f"lexicon of {len(POSITIVE) + len(NEGATIVE)} words, threshold {self.threshold}")

    def score(self, text):
        words = WORD.findall(text.lower())
        if not words:
            return 0.0
        hits = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        return hits / len(words)

    def predict(self, inputs):
        if not all(isinstance(text, str) for text in inputs):
            raise BadInput("each instance must be a text string")
        scores = [self.score(text) for text in inputs]
        return {
            "predictions": [
                {"label": "positive" if s > self.threshold else "negative" if s < -self.threshold else "neutral",
                 "score": round(s, 4)}
                for s in scores
            ],
            "model": os.environ["MODEL_NAME"],
        }
