"""Tiny hand-built ONNX models with skelact metadata, for runtime tests without torch.

"Hand raisers": class 1 (raise_right_arm) scores sigmoid(10 (y_rhand - 1)) and class 2
(raise_left_arm) sigmoid(10 (y_lhand - 1)), y in normalised torso units (the synthetic
generator's arm raises reach about 2), background = 1 - max. Per frame, so the step
graph (with a pass-through state) equals the window graph exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from skelact.stream.metadata import META_KEY, ModelMeta, StateSpec
from skelact.stream.normalize import NormConfig

R_HAND, L_HAND = 11, 7


def _scores(prefix: list, x: str, lead: int) -> list:
    """Nodes computing probs from x whose last three axes are (20 joints, 6 channels) after
    ``lead`` leading axes (N for step, N,T for window) and one person axis."""
    ax_j, ax_c = lead + 1, lead + 2
    nodes = []
    for name, j in (("r", R_HAND), ("l", L_HAND)):
        nodes += [
            helper.make_node("Slice", [x, f"st_{name}", f"en_{name}", "axes"], [f"y_{name}"]),
            helper.make_node("Squeeze", [f"y_{name}", "sq_axes"], [f"ys_{name}"]),
            helper.make_node("Sub", [f"ys_{name}", "one"], [f"d_{name}"]),
            helper.make_node("Mul", [f"d_{name}", "ten"], [f"z_{name}"]),
            helper.make_node("Sigmoid", [f"z_{name}"], [f"p_{name}"]),
        ]
        prefix += [
            helper.make_tensor(f"st_{name}", TensorProto.INT64, [2], [j, 1]),
            helper.make_tensor(f"en_{name}", TensorProto.INT64, [2], [j + 1, 2]),
        ]
    prefix += [
        helper.make_tensor("axes", TensorProto.INT64, [2], [ax_j, ax_c]),
        helper.make_tensor("sq_axes", TensorProto.INT64, [3], [lead, lead + 1, lead + 2]),
        helper.make_tensor("unsq_axes", TensorProto.INT64, [1], [lead]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
    ]
    nodes += [
        helper.make_node("Max", ["p_r", "p_l"], ["pmax"]),
        helper.make_node("Sub", ["one", "pmax"], ["bg"]),
        helper.make_node("Unsqueeze", ["p_r", "unsq_axes"], ["u_r"]),
        helper.make_node("Unsqueeze", ["p_l", "unsq_axes"], ["u_l"]),
        helper.make_node("Unsqueeze", ["bg", "unsq_axes"], ["u_bg"]),
        helper.make_node("Concat", ["u_r", "u_l", "u_bg"], ["probs"], axis=lead),
    ]
    return nodes


def hand_raiser(path: Path, mode: str = "step", lookahead: int = 0, window: int = 16,
                decision: dict | None = None) -> Path:  # fmt: skip
    """Write a hand-raiser model (``mode`` step or window) to ``path``; ``decision``: the
    calibrated per-class thresholds its metadata carries (none by default)."""
    norm = NormConfig()
    inits: list = []
    if mode == "step":
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 20, 6])
        s_in = helper.make_tensor_value_info("state_0", TensorProto.FLOAT, ["N", 4])
        nodes = _scores(inits, "x", 1)
        nodes.append(helper.make_node("Identity", ["state_0"], ["state_0_out"]))
        outs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3]),
                helper.make_tensor_value_info("state_0_out", TensorProto.FLOAT, ["N", 4])]  # fmt: skip
        inputs = [x, s_in]
        state = (StateSpec("state_0", (4,)),)
    else:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 1, 20, 6])
        nodes = _scores(inits, "x", 2)
        outs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", "T", 3])]
        inputs = [x]
        state = ()
    graph = helper.make_graph(nodes, "hand_raiser", inputs, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="skelact-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    meta = ModelMeta(
        name=f"hand_raiser_{mode}", classes=((1, "raise_right_arm"), (2, "raise_left_arm")),
        background_index=2, mode=mode, fps=30.0, norm=norm, receptive_field=1,
        lookahead=lookahead, window=window, state=state, decision=decision or {},
    )  # fmt: skip
    e = model.metadata_props.add()
    e.key, e.value = META_KEY, meta.to_json()
    onnx.save(model, str(path))
    return path


def without_metadata(path: Path) -> Path:
    m = onnx.load(str(path))
    del m.metadata_props[:]
    onnx.save(m, str(path))
    return path


def reference_scores(x: np.ndarray) -> np.ndarray:
    """What the hand raiser computes for normalised frames (..., 1, 20, 6)."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    pr = sig(10 * (x[..., 0, R_HAND, 1] - 1))
    pl = sig(10 * (x[..., 0, L_HAND, 1] - 1))
    return np.stack([pr, pl, 1 - np.maximum(pr, pl)], -1)


def tap_echo(path: Path) -> Path:
    """A step model that shows what the runtime fed it.

    ``state_0`` is a ring state with offsets (3, 1) and column (3,): the graph returns
    joint 0's channels 0..2 of this frame as the column. ``state_1`` is a carry state (2,)
    that counts steps. probs = [state_0 tap 3 frames back [0], tap 1 frame back [0],
    state_1[0]]."""
    def init(name, vals, dtype=TensorProto.INT64):
        return helper.make_tensor(name, dtype, [len(vals)], vals)

    inits = [
        init("s0_st", [0]), init("s0_en", [1]), init("s0_ax", [2]), init("sq2", [2]),
        init("s1_st", [0]), init("s1_en", [1]), init("s1_ax", [1]),
        init("x_st", [0, 0, 0]), init("x_en", [1, 1, 3]), init("x_ax", [1, 2, 3]),
        init("col_shape", [-1, 3]), init("one", [1.0], TensorProto.FLOAT),
    ]
    nodes = [
        helper.make_node("Slice", ["state_0", "s0_st", "s0_en", "s0_ax"], ["tp3"]),
        helper.make_node("Squeeze", ["tp3", "sq2"], ["tp"]),
        helper.make_node("Slice", ["state_1", "s1_st", "s1_en", "s1_ax"], ["cs"]),
        helper.make_node("Concat", ["tp", "cs"], ["probs"], axis=1),
        helper.make_node("Slice", ["x", "x_st", "x_en", "x_ax"], ["xc"]),
        helper.make_node("Reshape", ["xc", "col_shape"], ["state_0_out"]),
        helper.make_node("Add", ["state_1", "one"], ["state_1_out"]),
    ]
    vi = helper.make_tensor_value_info
    f = TensorProto.FLOAT
    inputs = [vi("x", f, ["N", 1, 20, 6]), vi("state_0", f, ["N", 2, 3]), vi("state_1", f, ["N", 2])]
    outs = [vi("probs", f, ["N", 3]), vi("state_0_out", f, ["N", 3]), vi("state_1_out", f, ["N", 2])]
    graph = helper.make_graph(nodes, "tap_echo", inputs, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="skelact-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    meta = ModelMeta(
        name="tap_echo", classes=((1, "a"), (2, "b")), background_index=2, mode="step", fps=30.0,
        norm=NormConfig(), receptive_field=4,
        state=(StateSpec("state_0", (2, 3), "ring", (3, 1)), StateSpec("state_1", (2,))),
    )  # fmt: skip
    e = model.metadata_props.add()
    e.key, e.value = META_KEY, meta.to_json()
    onnx.save(model, str(path))
    return path
