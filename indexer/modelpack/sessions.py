"""onnxruntime sessions, created once per model file and kept apart from the models.

Every session is small and quiet: ``intra_op_threads`` threads (1 by default: the
parallelism comes from a pool of workers sharing the sessions, one image each), and
intra-op spinning off, so idle threads sleep instead of fighting the busy ones for cores.

:func:`prepare_model` is the one rewrite twinwatch applies to a network before running it
(``models pull`` stores its result beside the original; see ``modelpack.store``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

if TYPE_CHECKING:  # onnx itself is imported only to prepare a model (`models pull`)
    import onnx

log = logging.getLogger(__name__)

_ORT_QUIET = 3  # ERROR: keeps onnxruntime's optimiser chatter out of normal output
ort.set_default_logger_severity(_ORT_QUIET)

# Bumped whenever prepare_model changes what it writes (recorded in the local manifest).
# 2: PRelu rewritten (see ``_prelu_as_relu``).
PREPARATION_VERSION = 2
BATCH_DIM = "batch"
_REWRITE_PREFIX = "twinwatch_prelu_"


class SessionFactory:
    """Builds CPU inference sessions with the configured threads and spinning policy."""

    def __init__(
        self, *, intra_op_threads: int, inter_op_threads: int, allow_spinning: bool = False
    ) -> None:
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads
        self.allow_spinning = allow_spinning

    def options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.log_severity_level = _ORT_QUIET
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = "1" if self.allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        return options

    def create(self, model: Path | bytes) -> ort.InferenceSession:
        source = str(model) if isinstance(model, Path) else model
        return ort.InferenceSession(source, self.options(), providers=["CPUExecutionProvider"])


def nchw_blob(
    images: npt.NDArray[np.uint8], *, rgb: bool, mean: float, std: float
) -> npt.NDArray[np.float32]:
    """A network's input: ``(x - mean) / std`` of the (n, h, w, 3) BGR images, channels
    first, in float32 (``rgb``: channel order reversed first). The pixels are moved into
    planes as bytes and converted once (moving float32 planes was ~10x slower for a
    detector canvas), and the arithmetic is skipped where it is the identity; the numbers
    are the same bit for bit (``tests/models/test_throughput.py``)."""
    ordered = images[..., ::-1] if rgb else images
    planar = np.ascontiguousarray(ordered.transpose(0, 3, 1, 2)).astype(np.float32)
    if mean != 0.0:
        planar -= np.float32(mean)
    if std != 1.0:
        planar /= np.float32(std)
    return planar


def prepare_model(
    model: onnx.ModelProto | Path | bytes,
    *,
    dynamic_batch: bool = True,
    dynamic_spatial: bool = False,
) -> bytes:
    """The network rewritten for fast inference; its arithmetic is unchanged.

    * Initializers are removed from the graph inputs. Old exports (IR < 4, e.g. SFace) list
      every weight as an input, which tells onnxruntime they may be overridden at run time,
      so it cannot fold constants or fuse BatchNorms into the convolutions.
    * With ``dynamic_batch`` (recognizers), the batch axis of every input and output is
      symbolic, so one run embeds all the crops of an image.
    * With ``dynamic_spatial`` (fully convolutional detectors exported at a fixed size, e.g.
      YuNet at 640x640), input height/width and output lengths are symbolic too.
    * PRelu becomes ``Relu(x) + slope * Min(x, 0)`` (bit-identical: see ``_prelu_as_relu``).
    """
    import onnx

    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, Path):
        proto = onnx.load(str(model))
    else:
        proto = onnx.load_from_string(model)
    initializers = {init.name for init in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    for graph_input in proto.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        if dynamic_batch and dims:
            dims[0].dim_param = BATCH_DIM
        if dynamic_spatial and len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    for graph_output in proto.graph.output:
        dims = graph_output.type.tensor_type.shape.dim
        if dynamic_batch and dims:
            dims[0].dim_param = BATCH_DIM
        if dynamic_spatial:
            for position in range(1, len(dims)):
                dims[position].dim_param = f"{graph_output.name}_d{position}"
    del proto.graph.value_info[:]  # stale fixed shapes; onnxruntime infers them again
    _prelu_as_relu(proto.graph)
    return bytes(proto.SerializeToString())


def _prelu_as_relu(graph: onnx.GraphProto) -> None:
    """Rewrite every ``PRelu(x, slope)`` as ``Relu(x) + slope * Min(x, 0)``.

    The numbers are the same bit for bit: for each element one of the two terms is an exact
    zero. The speed is not: onnxruntime runs convolutions in a blocked channel layout
    (NCHWc) that has no PRelu, so each of SFace's 27 PRelus converted the tensor out of that
    layout and back; Relu, Min, Mul and Add stay in it. SFace's single-thread run takes
    ~40% less time (docs/benchmarks.md, issue 11).
    """
    import onnx.helper
    import onnx.numpy_helper

    if not any(node.op_type == "PRelu" for node in graph.node):
        return
    zero = f"{_REWRITE_PREFIX}zero"
    graph.initializer.append(onnx.numpy_helper.from_array(np.zeros((), np.float32), zero))
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), (y,) = node.input, node.output
        stem = f"{_REWRITE_PREFIX}{y}"
        nodes += [
            onnx.helper.make_node("Relu", [x], [f"{stem}_positive"]),
            onnx.helper.make_node("Min", [x, zero], [f"{stem}_negative"]),
            onnx.helper.make_node("Mul", [f"{stem}_negative", slope], [f"{stem}_scaled"]),
            onnx.helper.make_node("Add", [f"{stem}_positive", f"{stem}_scaled"], [y]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
