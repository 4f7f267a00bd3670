"""Compute TensorFlow's outputs of a frozen DeepRacer model on the test's reference frames.

The test of `racer.export.deepracer_model` compares OpenVINO's outputs with these. TensorFlow is
not one of racer's dependencies: run this once in a throwaway venv that has it, from the checkout
(the frames come from ``tests/export/deepracer_frames.py``)::

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu pillow
    PYTHONPATH=. /tmp/tfvenv/bin/python scripts/deepracer_tf_reference.py \
        ../shared/deepracer-models/drutils-sample-shallow/model.pb ../shared/deepracer-camera \
        tests/data/deepracer_model/tf_reference.npz

It imports the GraphDef with ``tf.compat.v1`` after clearing every node's device (real files pin
some nodes to ``/device:GPU:0``) and writes ``probabilities`` (K, n) float32, the frames' sum
``frames_sum`` (to notice a changed recipe), the model file's sha256 and TensorFlow's version.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from tests.export.deepracer_frames import reference_frames

INPUT = "main_level/agent/main/online/network_0/FRONT_FACING_CAMERA/FRONT_FACING_CAMERA:0"
OUTPUT = "main_level/agent/main/online/network_1/ppo_head_0/policy:0"


def tensorflow_probabilities(model: Path, frames: np.ndarray) -> np.ndarray:
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(model.read_bytes())
    for node in graph_def.node:
        node.device = ""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(OUTPUT, {INPUT: frames.astype(np.float32)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the frozen graph (.pb)")
    parser.add_argument("camera_dir", type=Path, help="../shared/deepracer-camera")
    parser.add_argument("out", type=Path, help="the .npz to write")
    args = parser.parse_args()
    frames = reference_frames(args.camera_dir)
    probabilities = tensorflow_probabilities(args.model, frames).astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, probabilities=probabilities,
             frames_sum=np.int64(frames.astype(np.int64).sum()),
             model_sha256=hashlib.sha256(args.model.read_bytes()).hexdigest(),
             tensorflow_version=tf.__version__)  # fmt: skip
    print(f"{args.out}: {probabilities.shape} probabilities, argmax {probabilities.argmax(1)}")


if __name__ == "__main__":
    main()
