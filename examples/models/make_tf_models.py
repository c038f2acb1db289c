"""Trains and exports the Keras examples, and records TensorFlow's answers to their requests.

Usage: .venv-tf/bin/python examples/models/make_tf_models.py   (run by scripts/setup.sh)

- examples/keras-digits/model/1/: a small CNN on MNIST-shaped (28x28x1) digit images drawn in
  code (each digit a stroke template, shifted, thickened and noised), trained for a few epochs;
- examples/keras-churn/model/1/: an MLP on a tabular churn data set made in code (12 numeric
  customer features, a churn probability that depends on them non-linearly).

Both are exported with Keras' `model.export` in TF Serving's layout (MODEL/1/saved_model.pb +
variables/), served natively by `model_server: TENSORFLOW_SERVING`. Each example's committed
request.json is rebuilt from held-out rows; TensorFlow's own outputs for it (the loaded
serving signature, on the float32 values the JSON holds) go to
target/example-models/tf_reference.json for tests/all/examples.rs.
"""

import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
REFERENCE = os.path.join(ROOT, "target", "example-models", "tf_reference.json")
SEED = 7

# Seven-segment-like strokes on a 7x5 grid (rows, cols) per digit: (r0, c0, r1, c1) lines.
SEGMENTS = {
    "a": (0, 0, 0, 4), "b": (0, 4, 3, 4), "c": (3, 4, 6, 4), "d": (6, 0, 6, 4),
    "e": (3, 0, 6, 0), "f": (0, 0, 3, 0), "g": (3, 0, 3, 4),
}
DIGITS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


def digit_images(n, rng):
    """n 28x28 grey images of digits 0-9 and their labels, each randomly placed and noised."""
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, 28, 28), dtype="float32")
    for i, label in enumerate(labels):
        scale = rng.uniform(2.2, 3.0)
        top, left = rng.uniform(1, 6), rng.uniform(4, 10)
        width = rng.uniform(0.8, 1.6)
        yy, xx = np.mgrid[0:28, 0:28].astype("float32")
        img = np.zeros((28, 28), dtype="float32")
        for seg in DIGITS[label]:
            r0, c0, r1, c1 = SEGMENTS[seg]
            y0, x0 = top + r0 * scale, left + c0 * scale
            y1, x1 = top + r1 * scale, left + c1 * scale
            # Distance of every pixel to the segment, turned into a soft stroke.
            dy, dx = y1 - y0, x1 - x0
            t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0, 1)
            dist = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
            img = np.maximum(img, np.clip(1.5 - dist / width, 0, 1))
        images[i] = np.clip(img + rng.normal(0, 0.08, (28, 28)), 0, 1)
    return images[..., None], labels


def digits_model():
    x = keras.Input((28, 28, 1), name="image")
    h = layers.Conv2D(16, 3, activation="relu")(x)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(32, 3, activation="relu")(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Flatten()(h)
    h = layers.Dense(64, activation="relu")(h)
    y = layers.Dense(10, activation="softmax", name="digit")(h)
    return keras.Model(x, y)


FEATURES = ["tenure_months", "monthly_charges", "support_calls", "late_payments", "contract_years",
            "data_gb", "discount", "age", "devices", "dropped_calls", "satisfaction", "referrals"]


def churn_rows(n, rng):
    """n customers (12 float features) and whether each churned."""
    x = np.stack([
        rng.uniform(0, 72, n), rng.uniform(20, 120, n), rng.poisson(1.5, n), rng.poisson(0.5, n),
        rng.integers(0, 3, n), rng.gamma(2.0, 5.0, n), rng.uniform(0, 0.3, n),
        rng.uniform(18, 80, n), rng.integers(1, 6, n), rng.poisson(2.0, n),
        rng.integers(1, 6, n), rng.poisson(0.3, n),
    ], axis=1).astype("float32")
    logit = (1.2 - 0.05 * x[:, 0] + 0.02 * x[:, 1] + 0.5 * x[:, 2] + 0.8 * x[:, 3]
             - 1.0 * x[:, 4] - 4.0 * x[:, 6] - 0.6 * (x[:, 10] - 3) + 0.15 * x[:, 9]
             + 0.6 * (x[:, 2] > 3) * (x[:, 4] == 0))
    churned = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype("float32")
    return x, churned


def churn_model(train_x):
    x = keras.Input((len(FEATURES),), name="features")
    norm = layers.Normalization()
    norm.adapt(train_x)
    h = norm(x)
    h = layers.Dense(64, activation="relu")(h)
    h = layers.Dense(32, activation="relu")(h)
    y = layers.Dense(1, activation="sigmoid", name="churn")(h)
    return keras.Model(x, y)


def export(model, example):
    out = os.path.join(ROOT, "examples", example, "model")
    shutil.rmtree(out, ignore_errors=True)
    model.export(os.path.join(out, "1"), verbose=False)
    return os.path.join(out, "1")


def tf_answer(saved_dir, instances):
    """What TensorFlow's own loaded serving signature answers for `instances` (float32)."""
    fn = tf.saved_model.load(saved_dir).signatures["serving_default"]
    (name,) = fn.structured_input_signature[1].keys()
    out = fn(**{name: tf.constant(np.asarray(instances, dtype="float32"))})
    (value,) = out.values()
    return value.numpy().astype("float64").tolist()


def write_request(example, instances):
    with open(os.path.join(ROOT, "examples", example, "request.json"), "w") as f:
        json.dump({"instances": instances}, f, separators=(",", ":"))
        f.write("\n")


def main():
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    reference = {}

    images, labels = digit_images(6000, rng)
    cnn = digits_model()
    cnn.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    cnn.fit(images[:5000], labels[:5000], epochs=3, batch_size=64, verbose=0)
    _, acc = cnn.evaluate(images[5000:], labels[5000:], verbose=0)
    print(f"keras-digits: held-out accuracy {acc:.3f}")
    saved = export(cnn, "keras-digits")
    # Two different held-out digits, pixels rounded so the committed JSON stays small and exact.
    pick = [5000, 5000 + int(np.argmax(labels[5000:] != labels[5000]))]
    request = np.round(images[pick], 2).tolist()
    write_request("keras-digits", request)
    reference["digits_labels"] = labels[pick].tolist()
    reference["digits_predictions"] = tf_answer(saved, request)

    x, y = churn_rows(12000, rng)
    mlp = churn_model(x[:10000])
    mlp.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    mlp.fit(x[:10000], y[:10000], epochs=5, batch_size=128, verbose=0)
    _, acc = mlp.evaluate(x[10000:], y[10000:], verbose=0)
    print(f"keras-churn: held-out accuracy {acc:.3f}")
    saved = export(mlp, "keras-churn")
    request = np.round(x[10000:10004], 2).tolist()
    write_request("keras-churn", request)
    reference["churn_predictions"] = tf_answer(saved, request)

    os.makedirs(os.path.dirname(REFERENCE), exist_ok=True)
    with open(REFERENCE, "w") as f:
        json.dump(reference, f, indent=1)


if __name__ == "__main__":
    main()
