"""Export a run for DeepRacer and compare the car's archive (OpenVINO) with torch, by hand.

``export`` writes ``RUN/model/deepracer/`` (``racer export RUN --format deepracer``), compares on
the frames of the policy's own drive and, given DeepRacer's camera folder, on its real frames
(grayscale 160x120, as the car feeds them), and saves the frames and torch's outputs::

    .venv/bin/python scripts/check_deepracer_export.py export RUN \
        --camera-dir ../shared/deepracer-camera --save /tmp/deepracer-check.npz

``tensorflow`` then runs the exported ``model.pb`` in TensorFlow 1's graph importer (not one of
racer's dependencies: use a throwaway venv) on the saved frames and compares with torch::

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python scripts/check_deepracer_export.py tensorflow \
        RUN/model/deepracer/model.pb /tmp/deepracer-check.npz

The ``tensorflow`` mode imports numpy and tensorflow only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = "main_level/agent/main/online/network_1/ppo_head_0/policy:0"
INPUT = "main_level/agent/main/online/network_0/{sensor}/{sensor}:0"


def export(args: argparse.Namespace) -> None:
    """Export the run, check it on the drive's and the real frames, save both for TensorFlow."""
    sys.path.insert(0, str(ROOT))
    import torch

    from racer.export.deepracer_export import check_deepracer_export
    from racer.train.deepracer_export import drive_frames, export_deepracer
    from racer.train.runs import load_policy

    result = export_deepracer(args.run, steps=args.steps)
    print(f"wrote {result.graph}, {result.metadata.name} and {result.archive.name}")
    print(f"  policy's own drive: {result.check.summary()}")
    loaded = load_policy(args.run)
    frames = {"drive": drive_frames(loaded, args.steps)}
    if args.camera_dir is not None:
        from tests.export.deepracer_frames import reference_frames

        frames["deepracer"] = reference_frames(args.camera_dir)
        check = check_deepracer_export(loaded.model, result, frames["deepracer"])
        print(f"  DeepRacer's frames (2 noise, black, white, 3 real): {check.summary()}")
    if args.save is not None:
        policy = loaded.model.policy
        saved: dict[str, np.ndarray] = {}
        for name, batch in frames.items():
            obs, _ = policy.obs_to_tensor(batch)
            with torch.no_grad():
                dist = policy.get_distribution(obs).distribution
            out = dist.probs if hasattr(dist, "probs") else dist.mean
            saved[f"{name}_frames"], saved[f"{name}_torch"] = batch, out.numpy()
        sensor = json.loads(result.metadata.read_text())["sensor"][0]
        np.savez(args.save, sensor=sensor, **saved)
        print(f"saved the frames and torch's outputs to {args.save}")


def tensorflow(args: argparse.Namespace) -> None:
    """Run the graph with TensorFlow on the saved frames and compare with torch's outputs."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(args.graph).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    saved = np.load(args.saved)
    feed = INPUT.format(sensor=str(saved["sensor"]))
    with tf.compat.v1.Session(graph=graph) as session:
        for key in sorted(k for k in saved.files if k.endswith("_frames")):
            name = key.removesuffix("_frames")
            frames = saved[key].astype(np.float32)
            out = session.run(OUTPUT, {feed: frames})
            torch_out = saved[f"{name}_torch"]
            same = int((out.argmax(axis=1) == torch_out.argmax(axis=1)).sum())
            print(f"TensorFlow {tf.__version__} vs torch on {len(frames)} {name} frames: max "
                  f"|difference| {np.abs(out - torch_out).max():.2e}, same argmax on "
                  f"{same}/{len(frames)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    run = sub.add_parser("export", help="export a run and check it in OpenVINO")
    run.add_argument("run", type=Path, help="run folder")
    run.add_argument("--steps", type=int, default=300, help="frames of the policy's own drive")
    run.add_argument("--camera-dir", type=Path, help="../shared/deepracer-camera")
    run.add_argument("--save", type=Path, help="an .npz of frames and torch's outputs")
    run.set_defaults(func=export)
    tf_mode = sub.add_parser("tensorflow", help="compare model.pb in TensorFlow with torch")
    tf_mode.add_argument("graph", type=Path, help="the exported model.pb")
    tf_mode.add_argument("saved", type=Path, help="the .npz that export --save wrote")
    tf_mode.set_defaults(func=tensorflow)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
