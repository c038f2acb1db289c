"""Builds the test models with TensorFlow/Keras and records TensorFlow's own outputs.

Usage: python tf-native/scripts/make.py OUT_DIR [MODEL ...]   (scripts/setup.sh: target/tf-fixtures)

Every model is saved twice in TF Serving's layout, NAME_export/1 (Keras `model.export`) and
NAME_tfsave/1 (`tf.saved_model.save`); `mlp_frozen.pb` is a frozen GraphDef of the MLP. For each
saved model, 200 inputs and the outputs of TensorFlow's own loaded signature are written as raw
little-endian arrays, described by OUT_DIR/manifest.json (read by the Rust tests).
methods_classify/1 and methods_regress/1 serve a classify and a regress signature, with
TensorFlow's answers in OUT_DIR/methods.json (tests/all/tf_serving_rest.rs).
signatures/1 has several different signatures (`serving_default`, its twin `serve`, `other` with
other inputs and outputs, and `cumulative`, which uses an op we cannot run), with TensorFlow's
answers in OUT_DIR/signatures.json (tests/all/tf_signatures.rs).
"""

import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

N = 200
SEED = 1234


def exact_gelu(x):
    return keras.activations.gelu(x, approximate=False)


def randomize_batchnorm(model, rng):
    # Fresh BatchNorm layers are the identity in inference; random statistics make them count.
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.2, beta.shape).astype("float32"),
                rng.normal(0, 0.3, mean.shape).astype("float32"),
                rng.uniform(0.5, 2.0, var.shape).astype("float32"),
            ])


def mlp():
    x = keras.Input((16,), name="features")
    h = layers.Dense(32, activation="relu")(x)
    h = layers.Dense(16, activation="tanh")(h)
    y = layers.Dense(5, activation="softmax")(h)
    return keras.Model(x, y), {"features": ("float32", (16,))}


def cnn():
    x = keras.Input((16, 16, 3), name="image")
    h = layers.Conv2D(8, 3, padding="same")(x)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.DepthwiseConv2D(3, padding="valid", activation="relu6")(h)
    h = layers.AveragePooling2D(2)(h)
    h = layers.GlobalAveragePooling2D()(h)
    y = layers.Dense(4, activation="softmax")(h)
    return keras.Model(x, y), {"image": ("float32", (16, 16, 3))}


def two_io():
    a = keras.Input((8,), name="a")
    b = keras.Input((4,), name="b")
    h = layers.Concatenate()([a, b])
    h = layers.Dense(16, activation="relu")(h)
    score = layers.Dense(1, activation="sigmoid", name="score")(h)
    klass = layers.Dense(3, activation="softmax", name="klass")(h)
    model = keras.Model({"a": a, "b": b}, {"score": score, "klass": klass})
    return model, {"a": ("float32", (8,)), "b": ("float32", (4,))}


def text():
    x = keras.Input((12,), dtype="int32", name="tokens")
    h = layers.Embedding(50, 8)(x)
    h = layers.GlobalAveragePooling1D()(h)
    y = layers.Dense(3, activation="softmax")(h)
    return keras.Model(x, y), {"tokens": ("int32", (12,))}


def attention():
    x = keras.Input((6, 16), name="seq")
    a = layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    h = layers.LayerNormalization()(x + a)
    f = layers.Dense(32, activation=exact_gelu)(h)
    f = layers.Dense(16)(f)
    h = layers.LayerNormalization()(h + f)
    h = layers.GlobalAveragePooling1D()(h)
    y = layers.Dense(3, activation="softmax")(h)
    return keras.Model(x, y), {"seq": ("float32", (6, 16))}


def lstm():
    # A fixed sequence length gives Keras' While loop a constant trip count (unrolled at load).
    x = keras.Input((12, 6), name="seq")
    h = layers.LSTM(16)(x)
    y = layers.Dense(3, activation="softmax")(h)
    return keras.Model(x, y), {"seq": ("float32", (12, 6))}


def gru():
    # The first GRU returns its whole sequence (list slots written at the loop index), the
    # second only its last state (one slot rewritten on every trip).
    x = keras.Input((12, 6), name="seq")
    h = layers.GRU(16, return_sequences=True)(x)
    h = layers.GRU(8)(h)
    y = layers.Dense(3, activation="softmax")(h)
    return keras.Model(x, y), {"seq": ("float32", (12, 6))}


MODELS = {"mlp": mlp, "cnn": cnn, "two_io": two_io, "text": text, "attention": attention,
          "lstm": lstm, "gru": gru}


def make_inputs(spec, rng):
    out = {}
    for name, (dtype, shape) in spec.items():
        if dtype == "int32":
            out[name] = rng.integers(0, 50, (N,) + shape).astype("int32")
        else:
            out[name] = rng.normal(0, 1, (N,) + shape).astype("float32")
    return out


def write_array(path, arr):
    arr = np.ascontiguousarray(arr)
    arr.astype(arr.dtype.newbyteorder("<")).tofile(path)
    return {"file": os.path.basename(path), "dtype": str(arr.dtype), "shape": list(arr.shape)}


def record(out_dir, case, saved_dir, signature, inputs):
    """Runs the saved signature with TensorFlow and writes inputs and outputs."""
    loaded = tf.saved_model.load(saved_dir)
    fn = loaded.signatures[signature]
    arg_names = sorted(fn.structured_input_signature[1].keys())
    specs = fn.structured_input_signature[1]
    feed = {}
    unused = list(inputs)
    for name in arg_names:
        if name in inputs:
            feed[name] = inputs[name]
            unused.remove(name)
    for name in arg_names:
        if name in feed:
            continue
        # tf.saved_model.save renames inputs ("inputs", "inputs_1"): match by dtype and shape.
        want = (specs[name].dtype.name, tuple(specs[name].shape[1:]))
        match = next(k for k in unused if (str(inputs[k].dtype), inputs[k].shape[1:]) == want)
        unused.remove(match)
        feed[name] = inputs[match]
    outputs = fn(**{k: tf.constant(v) for k, v in feed.items()})
    data_dir = os.path.join(out_dir, "data", case)
    os.makedirs(data_dir, exist_ok=True)
    entry = {"case": case, "dir": os.path.relpath(saved_dir, out_dir), "signature": signature,
             "inputs": {}, "outputs": {}}
    for name, arr in feed.items():
        entry["inputs"][name] = write_array(os.path.join(data_dir, f"in_{name}.bin"), arr)
    for name, t in outputs.items():
        entry["outputs"][name] = write_array(os.path.join(data_dir, f"out_{name}.bin"), t.numpy())
    return entry


def save_tf(model, spec, path):
    tf.saved_model.save(model, path)
    if "serving_default" in tf.saved_model.load(path).signatures:
        return
    # Older Keras objects carry no default signature: give one over the Input names.
    specs = [tf.TensorSpec((None,) + s, d, name=n) for n, (d, s) in spec.items()]

    @tf.function(input_signature=specs)
    def serve(*args):
        feed = dict(zip(spec.keys(), args))
        return model(feed if len(feed) > 1 else args[0])

    shutil.rmtree(path)
    tf.saved_model.save(model, path, signatures=serve)


def freeze(model, spec, path):
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)
    specs = [tf.TensorSpec((None,) + s, d, name=n) for n, (d, s) in spec.items()]
    fn = tf.function(lambda *a: model(a[0] if len(a) == 1 else dict(zip(spec.keys(), a))))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(*specs))
    with open(path, "wb") as f:
        f.write(frozen.graph.as_graph_def().SerializeToString())
    return ([t.name for t in frozen.inputs], [t.name for t in frozen.outputs], frozen)


def make_methods(out_dir):
    """SavedModels whose `serving_default` is a classify or a regress signature, plus a predict
    signature `logits`, built by hand over a dense input `x` (TF Serving's own classify and
    regress signatures take serialized tf.Example strings, which need ParseExample). TensorFlow's
    answers for a few rows go to OUT_DIR/methods.json."""
    tf1 = tf.compat.v1
    rng = np.random.default_rng(SEED)
    w = rng.normal(0, 1, (4, 3)).astype("float32")
    b = rng.normal(0, 1, (3,)).astype("float32")
    x_val = rng.normal(0, 1, (5, 4)).astype("float32")
    expected = {"x": x_val.tolist()}
    for method in ("classify", "regress"):
        path = os.path.join(out_dir, f"methods_{method}", "1")
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        graph = tf.Graph()
        with graph.as_default():
            x = tf1.placeholder(tf.float32, [None, 4], name="x")
            logits = tf.add(tf.matmul(x, w), b, name="logits")
            if method == "classify":
                names = tf.constant([["setosa", "versicolor", "virginica"]])
                outputs = {
                    "scores": tf.nn.softmax(logits, name="scores"),
                    "classes": tf.tile(names, tf.stack([tf.shape(x)[0], 1]), name="classes"),
                }
            else:
                outputs = {"outputs": tf.reduce_sum(logits, axis=1, name="value")}
            info = tf1.saved_model.build_tensor_info
            served = tf1.saved_model.build_signature_def(
                inputs={"x": info(x)}, outputs={k: info(v) for k, v in outputs.items()},
                method_name=f"tensorflow/serving/{method}")
            predict = tf1.saved_model.build_signature_def(
                inputs={"x": info(x)}, outputs={"logits": info(logits)},
                method_name="tensorflow/serving/predict")
            with tf1.Session(graph=graph) as sess:
                builder = tf1.saved_model.Builder(path)
                builder.add_meta_graph_and_variables(
                    sess, ["serve"],
                    signature_def_map={"serving_default": served, "logits": predict})
                builder.save()
                answers = sess.run(outputs, {x: x_val})
        expected[method] = {
            k: np.char.decode(v.astype(bytes)).tolist() if v.dtype.kind in "OS" else v.tolist()
            for k, v in answers.items()
        }
    with open(os.path.join(out_dir, "methods.json"), "w") as f:
        json.dump(expected, f, indent=1)


def make_signatures(out_dir):
    """A tf.Module saved with several signatures: `serving_default` (x*2 over `x`), `serve` (the
    same function), `other` (a different input `z` and two outputs over a variable) and
    `cumulative` (Cumsum, an op the server cannot run). TensorFlow's answers for a few rows go to
    OUT_DIR/signatures.json."""
    rng = np.random.default_rng(SEED)

    class Signatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.normal(0, 1, (3, 2)).astype("float32"))
            self.b = tf.Variable(rng.normal(0, 1, (2,)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def double(self, x):
            return {"y": x * 2.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="z")])
        def other(self, z):
            projected = tf.matmul(z, self.w) + self.b
            return {"projected": projected, "total": tf.reduce_sum(projected, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def cumulative(self, x):
            return {"running": tf.math.cumsum(x, axis=1)}

    module = Signatures()
    path = os.path.join(out_dir, "signatures", "1")
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.double, "serve": module.double, "other": module.other,
        "cumulative": module.cumulative})
    loaded = tf.saved_model.load(path).signatures
    x = rng.normal(0, 1, (5, 4)).astype("float32")
    z = rng.normal(0, 1, (5, 3)).astype("float32")
    expected = {"x": x.tolist(), "z": z.tolist()}
    for name, feed in (("serving_default", {"x": x}), ("serve", {"x": x}), ("other", {"z": z}),
                       ("cumulative", {"x": x})):
        answers = loaded[name](**{k: tf.constant(v) for k, v in feed.items()})
        expected[name] = {k: v.numpy().tolist() for k, v in answers.items()}
    with open(os.path.join(out_dir, "signatures.json"), "w") as f:
        json.dump(expected, f, indent=1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    wanted = sys.argv[2:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, "manifest.json")
    manifest = {"cases": [], "frozen": []}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest["cases"] = [c for c in manifest["cases"] if c["case"].rsplit("_", 1)[0] not in wanted]
    for name in wanted:
        keras.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED)
        model, spec = MODELS[name]()
        randomize_batchnorm(model, rng)
        inputs = make_inputs(spec, rng)
        for style in ("export", "tfsave"):
            saved = os.path.join(out_dir, f"{name}_{style}", "1")
            shutil.rmtree(os.path.dirname(saved), ignore_errors=True)
            if style == "export":
                model.export(saved, verbose=False)
            else:
                save_tf(model, spec, saved)
            manifest["cases"].append(record(out_dir, f"{name}_{style}", saved,
                                            "serving_default", inputs))
            # Written after every case, so a failure later keeps what was made so far.
            with open(manifest_path, "w") as f:
                json.dump(manifest, f, indent=1)
            print("saved", name, style, flush=True)
        if name == "mlp":
            path = os.path.join(out_dir, "mlp_frozen.pb")
            ins, outs, frozen = freeze(model, spec, path)
            data_dir = os.path.join(out_dir, "data", "mlp_frozen")
            os.makedirs(data_dir, exist_ok=True)
            result = frozen(tf.constant(inputs["features"]))
            result = result[0] if isinstance(result, (list, tuple)) else result
            manifest["frozen"] = [{
                "case": "mlp_frozen", "file": "mlp_frozen.pb", "inputs": ins, "outputs": outs,
                "input": write_array(os.path.join(data_dir, "in.bin"), inputs["features"]),
                "output": write_array(os.path.join(data_dir, "out.bin"), result.numpy()),
            }]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    make_methods(out_dir)
    print("saved the classify and regress signatures", flush=True)
    make_signatures(out_dir)
    print("saved the model of several signatures", flush=True)


if __name__ == "__main__":
    main()
