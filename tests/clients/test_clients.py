"""The protocols' own clients from PyPI, unchanged, against our server: Triton's
`tritonclient.http` (Open Inference Protocol) and KServe's `InferenceRESTClient` (V1 and V2)."""

import asyncio

import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


def triton_infer(client, model, rows, output):
    x = triton.InferInput("input", list(rows.shape), "FP32")
    x.set_data_from_numpy(rows, binary_data=False)
    out = triton.InferRequestedOutput(output, binary_data=False)
    return client.infer(model, [x], outputs=[out], request_id="t-1")


def test_tritonclient_health_metadata_and_inference(server, reference):
    client = triton.InferenceServerClient(url=server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert not client.is_model_ready("no-such-model")
    meta = client.get_model_metadata("iris")
    assert meta["platform"] == "onnx_onnxv1"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert client.get_server_metadata()["name"] == "predictor-runtime"

    rows = np.array(reference["instances"], dtype=np.float32)
    result = triton_infer(client, "iris", rows, "probabilities")
    np.testing.assert_allclose(result.as_numpy("probabilities"), reference["logreg_probabilities"], atol=1e-5)
    assert result.get_response()["id"] == "t-1"

    # A predictor component answers the same client the same way.
    result = triton_infer(client, "iris-bayes", rows, "probabilities")
    np.testing.assert_allclose(result.as_numpy("probabilities"), reference["nb_probabilities"], atol=1e-5)
    labels = triton_infer(client, "iris-bayes", rows, "label").as_numpy("label")
    assert labels.tolist() == [0, 1, 2]


def test_tritonclient_errors_are_raised_with_the_servers_message(server):
    client = triton.InferenceServerClient(url=server)
    x = triton.InferInput("input", [1, 3], "FP32")
    x.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32), binary_data=False)
    with pytest.raises(triton.InferenceServerException, match=r"has shape \[1, 3\]"):
        client.infer("iris", [x], outputs=[triton.InferRequestedOutput("label", binary_data=False)])


def test_kserve_rest_client_v1(server, reference):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v1"))
        try:
            assert await client.is_model_ready(f"http://{server}", "iris")
            out = await client.infer(f"http://{server}", {"instances": reference["instances"]}, model_name="iris")
            assert [p["label"] for p in out["predictions"]] == reference["logreg_labels"]
            out = await client.infer(
                f"http://{server}", {"instances": reference["instances"]}, model_name="iris-ensemble"
            )
            assert [p["class"] for p in out["predictions"]] == ["setosa", "versicolor", "virginica"]
        finally:
            await client.close()

    asyncio.run(run())


def test_kserve_rest_client_v2(server, reference):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        try:
            assert await client.is_server_live(f"http://{server}")
            assert await client.is_model_ready(f"http://{server}", "iris")
            x = InferInput(name="input", shape=[3, 4], datatype="FP32")
            x.set_data_from_numpy(np.array(reference["instances"], dtype=np.float32), binary_data=False)
            response = await client.infer(
                f"http://{server}", InferRequest(model_name="iris", infer_inputs=[x], request_id="k-1"),
                model_name="iris",
            )
            outputs = {o.name: o for o in response.outputs}
            assert outputs["label"].as_numpy().tolist() == reference["logreg_labels"]
            np.testing.assert_allclose(
                outputs["probabilities"].as_numpy(), reference["logreg_probabilities"], atol=1e-5
            )
        finally:
            await client.close()

    asyncio.run(run())


def test_tritonclient_default_binary_tensors(server, reference):
    """tritonclient's defaults use the binary tensor extension both ways."""
    client = triton.InferenceServerClient(url=server)
    rows = np.array(reference["instances"], dtype=np.float32)
    for model, key in [("iris", "logreg_probabilities"), ("iris-bayes", "nb_probabilities")]:
        x = triton.InferInput("input", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows)  # binary_data=True by default
        result = client.infer(model, [x])  # no outputs named: every output, binary
        np.testing.assert_allclose(result.as_numpy("probabilities"), reference[key], atol=1e-5)
        assert result.as_numpy("label").tolist() == [0, 1, 2]
        assert result.as_numpy("label").dtype == np.int64


def test_kserve_client_binary_tensors(server, reference):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        try:
            x = InferInput(name="input", shape=[3, 4], datatype="FP32")
            x.set_data_from_numpy(np.array(reference["instances"], dtype=np.float32), binary_data=True)
            response = await client.infer(
                f"http://{server}", InferRequest(model_name="iris", infer_inputs=[x]), model_name="iris"
            )
            outputs = {o.name: o for o in response.outputs}
            np.testing.assert_allclose(
                outputs["probabilities"].as_numpy(), reference["logreg_probabilities"], atol=1e-5
            )
        finally:
            await client.close()

    asyncio.run(run())
