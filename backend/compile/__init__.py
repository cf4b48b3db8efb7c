"""The compile room: a graph becomes a ``torch.fx.GraphModule`` (``compiler``), each node's
module or tensor op (``modules``), pretrained backbones and model files (``backbones``,
``model_files``), imported ops without a catalogue layer (``opaque``) and the Code view's
source (``codegen``).

Importing the package registers the non-``nn`` module builders with ``modules``.
"""
from backend.compile import backbones, model_files, opaque  # noqa: F401 - register builders
from backend.compile.compiler import compile_graph, locate_failure

__all__ = ["compile_graph", "locate_failure"]
