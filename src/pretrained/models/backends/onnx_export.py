"""PyTorch → ONNX with dynamic batch and sequence axes: the one exporter call."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path


def torch_to_onnx(module, args: tuple, target: Path, output_name: str, *, opset: int = 18) -> None:
    """PyTorch's exporter on a module taking (input_ids, attention_mask), with dynamic batch
    and sequence axes; used by `pretrained export` (ship/export.py) and the embedding conversions
    (fast_embeddings.py)."""
    import logging

    import torch

    # "torchvision is not installed. Skipping torchvision::nms" and the like, on every export
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    dims = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    size = sum(p.numel() * p.element_size() for p in module.parameters())
    with (
        torch.inference_mode(),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sys.stderr),  # the exporter prints its steps
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=[output_name],
            dynamic_shapes=dims,
            opset_version=opset,
            dynamo=True,
            external_data=size > 1_800_000_000,  # protobuf's 2 GB limit
            verbose=False,
        )
