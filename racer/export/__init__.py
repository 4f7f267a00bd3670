"""Policy export and import: racer's policies as ONNX graphs, and DeepRacer's own models.

- `export_onnx`, `check_export` (`racer.export.onnx`): need torch, stable-baselines3, onnx and
  onnxscript;
- `OnnxPolicy` (`racer.export.runner`): needs onnxruntime only;
- `DeepRacerPolicy` (`racer.export.deepracer_model`): a DeepRacer model's frozen TensorFlow graph
  (``model.pb``), run with OpenVINO (``pip install 'racer[deepracer]'``), no TensorFlow.

Imported lazily, so ``import racer.export.runner`` never loads torch or stable-baselines3.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "export_onnx": "racer.export.onnx",
    "check_export": "racer.export.onnx",
    "OnnxPolicy": "racer.export.runner",
    "DeepRacerPolicy": "racer.export.deepracer_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'racer.export' has no attribute {name!r}")


__all__ = sorted(_LAZY)
