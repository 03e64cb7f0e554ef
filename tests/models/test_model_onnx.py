"""The model's infer and step export to ONNX (legacy TorchScript exporter, ``dynamo=False``)
with dynamic batch and frame axes, and ONNX Runtime reproduces torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from model_helpers import tiny_model

ort = pytest.importorskip("onnxruntime")


class _Window(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.infer(x)


class _Step(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, *state):
        probs, new = self.model.step(x, list(state))
        return (probs, *new)


def _export(module, args, path, inputs, outputs, dyn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dyn, opset_version=17, dynamo=False)  # fmt: skip
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch,persons", [("causal", 1), ("causal", 2), ("agcn", 2)])
def test_window_graph_dynamic_batch_and_frames(tmp_path, arch, persons):
    model = tiny_model(arch, persons=persons)
    sess = _export(_Window(model).eval(), (torch.zeros(1, 64, persons, 20, 6),), tmp_path / "w.onnx",
                   ["x"], ["probs"], {"x": {0: "batch", 1: "frames"}, "probs": {0: "batch", 1: "frames"}})  # fmt: skip
    rng = np.random.default_rng(0)
    for n, t in [(1, 64), (3, 37), (2, 5)]:
        x = rng.normal(size=(n, t, persons, 20, 6)).astype(np.float32)
        with torch.no_grad():
            ref = model.infer(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"x": x})[0]
        assert got.shape == (n, t, 4)
        assert np.abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("persons", [1, 2])
def test_step_graph_matches_infer(tmp_path, persons):
    model = tiny_model("causal", persons=persons)
    names = model.state_names()
    state0 = model.init_state(1)
    ins, outs = ["x", *names], ["probs", *[f"{n}_out" for n in names]]
    sess = _export(_Step(model).eval(), (torch.zeros(1, persons, 20, 6), *state0), tmp_path / "s.onnx",
                   ins, outs, {n: {0: "batch"} for n in ins + outs})  # fmt: skip
    x = np.random.default_rng(1).normal(size=(2, 25, persons, 20, 6)).astype(np.float32)
    with torch.no_grad():
        ref = model.infer(torch.from_numpy(x)).numpy()
    state = [np.zeros((2, *s), np.float32) for s in model.state_shapes()]
    got = []
    for t in range(x.shape[1]):
        res = sess.run(None, {"x": x[:, t], **dict(zip(names, state))})
        got.append(res[0])
        state = res[1:]
    assert np.abs(np.stack(got, 1) - ref).max() < 1e-5
