"""onnxruntime sessions, created once per model file and kept apart from the models."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
import onnxruntime as ort

log = logging.getLogger(__name__)

_ORT_QUIET = 3  # ERROR: keeps initializer-in-inputs and similar warnings out of normal output
ort.set_default_logger_severity(_ORT_QUIET)


class SessionFactory:
    """Builds CPU inference sessions with the configured thread counts."""

    def __init__(self, *, intra_op_threads: int, inter_op_threads: int) -> None:
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads

    def create(self, model: Path | bytes) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.log_severity_level = _ORT_QUIET
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = str(model) if isinstance(model, Path) else model
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def with_dynamic_spatial_dims(path: Path) -> bytes:
    """The model at ``path`` with its input height/width and output lengths made symbolic.

    Detectors exported at a fixed 640x640 (YuNet) are fully convolutional; freeing those
    dimensions lets us run them at the working resolution the pack asks for. The file on
    disk (whose sha256 was verified) is not modified.
    """
    model = onnx.load(str(path))
    for graph_input in model.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    for graph_output in model.graph.output:
        dims = graph_output.type.tensor_type.shape.dim
        for position in range(1, len(dims)):
            dims[position].dim_param = f"{graph_output.name}_d{position}"
    return bytes(model.SerializeToString())
