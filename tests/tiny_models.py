"""Tiny ONNX stand-ins with the exact input/output names and shapes of the real InsightFace models.

Built with the `onnx` helper API so the real loading and calling code (sessions, emap, SCRFD
decoding, alignment, paste-back) runs end to end in tests without the 700 MB of real weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# buffalo_l det_10g output names: scores (strides 8, 16, 32), then box distances, then keypoints.
SCRFD_OUTPUTS = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
ARCFACE_OUTPUT = "683"


def _save(model: object, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)  # type: ignore[arg-type]
    onnx.save(model, str(path))  # type: ignore[arg-type]
    return path


def _model(graph: object) -> object:
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def inswapper(path: Path, seed: int = 0) -> Path:
    """inputs target [1,3,128,128] (RGB/255) and source [1,512]; output [1,3,128,128] in 0..1;
    `emap` (512x512) is the graph's last initializer, as in inswapper_128.onnx."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    style = numpy_helper.from_array((rng.standard_normal((512, 3)) * 0.05).astype(np.float32), "style")
    shape = numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "style_shape")
    gain = numpy_helper.from_array(np.array(0.8, np.float32), "gain")
    emap = numpy_helper.from_array((rng.standard_normal((512, 512)) / 22.6).astype(np.float32), "emap")
    nodes = [
        helper.make_node("MatMul", ["source", "style"], ["shift_flat"]),
        helper.make_node("Reshape", ["shift_flat", "style_shape"], ["shift"]),
        helper.make_node("Mul", ["target", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["moved"]),
        helper.make_node("Sigmoid", ["moved"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_128_tiny",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializer=[style, shape, gain, emap],
    )
    return _save(_model(graph), path)


def arcface(path: Path, seed: int = 1) -> Path:
    """w600k_r50 signature: input.1 [None,3,112,112] (x-127.5)/127.5 -> 683 [1,512]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((147, 512)).astype(np.float32), "fc")
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc"], [ARCFACE_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "w600k_r50_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info(ARCFACE_OUTPUT, TensorProto.FLOAT, [1, 512])],
        initializer=[weight],
    )
    return _save(_model(graph), path)


def scrfd(path: Path, box_cells: float = 1.5) -> Path:
    """det_10g signature: input.1 [1,3,?,?] -> 9 outputs. Each cell scores high where the image is
    bright (logit = 10 * mean - 5 of the normalised cell), boxes reach `box_cells` strides each way
    from the cell, and the 5 keypoints sit at fixed offsets (in strides) around the cell centre."""
    from onnx import TensorProto, helper, numpy_helper

    keypoint_offsets = np.array([-0.5, -0.3, 0.5, -0.3, 0.0, 0.0, -0.4, 0.4, 0.4, 0.4], np.float32)
    initializers, nodes, outputs = [], [], []
    heads = (("score", 2, 1), ("box", 8, 4), ("kps", 20, 10))
    for head_index, (head, channels, per_anchor) in enumerate(heads):
        for stride_index, stride in enumerate((8, 16, 32)):
            name = f"{head}{stride}"
            weight = np.zeros((channels, 3, 1, 1), np.float32)
            if head == "score":
                weight[:] = 10.0 / 3.0
                bias = np.full(channels, -5.0, np.float32)
            elif head == "box":
                bias = np.full(channels, box_cells, np.float32)
            else:
                bias = np.tile(keypoint_offsets, 2)
            initializers += [
                numpy_helper.from_array(weight, f"{name}_w"),
                numpy_helper.from_array(bias, f"{name}_b"),
                numpy_helper.from_array(np.array([-1, per_anchor], np.int64), f"{name}_shape"),
            ]
            out = SCRFD_OUTPUTS[head_index * 3 + stride_index]
            nodes += [
                helper.make_node(
                    "AveragePool",
                    ["input.1"],
                    [f"{name}_pool"],
                    kernel_shape=[stride, stride],
                    strides=[stride, stride],
                ),
                helper.make_node("Conv", [f"{name}_pool", f"{name}_w", f"{name}_b"], [f"{name}_conv"]),
                helper.make_node("Transpose", [f"{name}_conv"], [f"{name}_nhwc"], perm=[0, 2, 3, 1]),
                helper.make_node(
                    "Reshape", [f"{name}_nhwc", f"{name}_shape"], [f"{name}_flat" if head == "score" else out]
                ),
            ]
            if head == "score":
                nodes.append(helper.make_node("Sigmoid", [f"{name}_flat"], [out]))
            outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["?", per_anchor]))
    graph = helper.make_graph(
        nodes,
        "det_10g_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])],
        outputs,
        initializer=initializers,
    )
    return _save(_model(graph), path)


def place_inswapper_models(folder: Path, with_detector: bool = True) -> Path:
    """A models folder holding tiny inswapper_128.onnx, w600k_r50.onnx and (optionally) det_10g.onnx."""
    folder.mkdir(parents=True, exist_ok=True)
    inswapper(folder / "inswapper_128.onnx")
    arcface(folder / "w600k_r50.onnx")
    if with_detector:
        scrfd(folder / "det_10g.onnx")
    return folder
