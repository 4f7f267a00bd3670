"""``racer train``: DeepRacer's training loop on a laptop CPU, leaving a DeepRacer model folder.

One round (SPEC 3.2, 5.3):

1. the cars drive, every step going to the simtrace recorder, until the update is due: after
   ``steps_per_car`` steps of every car (racer's default), or, with ``update_every="episodes"``,
   once ``num_episodes_between_training`` episodes have finished (DeepRacer's iteration);
2. one PPO update on those steps (`EpisodicPPO`); with ``training_algorithm: sac``, SAC's
   steps with a gradient step after each (`racer.train.sac`);
3. a few single-lap evaluation episodes from spread start points; by ``best_model_metric``
   (the fastest mean lap by default) they pick the best model;
4. every few updates a full lap check (3 laps from the line, no resets);
5. the round is committed: the finished episodes in logging iterations of exactly
   ``num_episodes_between_training`` episodes (DeepRacer's unit: one simtrace file each, as the
   reward graph and deepracer-utils count them), their robomaker.log lines, the metrics, the
   checkpoint and the run state (`racer.train.run_state`), each written atomically (the log is
   appended and its committed size recorded), the state last. A killed run therefore loses at
   most the round in flight: ``racer train --resume RUN`` rolls every log back to the state and
   continues with the same logs, iteration numbers and reward graph.

The run folder is locked (`RunLock`) before anything is written to it, so a second ``racer
train`` into it is refused and changes nothing.

Why racer updates by steps by default: 16 cars finish 20 episodes in well under 1,000 steps early
on, and updating that often destabilised PPO in our measurements (reinvent_base did not lap in
8 minutes); 256 steps per car (4,096 per update) lapped it in 1.2-2.7 minutes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch

from racer.config import dump_toml
from racer.env.config import load_metadata
from racer.env.vec_env import RacerVecEnv
from racer.errors import ConfigError, LogError, RewardFunctionError
from racer.formats.best_model import evaluation_groups
from racer.logs.atomic import write_text_atomic
from racer.logs.progress import append_progress
from racer.logs.recorder import EpisodeLog, SimtraceRecorder
from racer.logs.run_folder import RunFolder
from racer.logs.writers import RobomakerLog, TrainingMetrics, write_simtrace
from racer.physics.actions import DiscreteActionSpace
from racer.reward.plugin import resolve_reward_path
from racer.reward.worker import RewardWorker
from racer.track import Track, load_track
from racer.train.checkpoint import load_checkpoint
from racer.train.clone import clone_config, pretrained_weights, start_from
from racer.train.config import (
    TrainConfig,
    config_to_dict,
    load_run_config,
)
from racer.train.evaluate import (
    SB3Policy,
    drive_laps,
    drive_progress,
    lap_core,
    lap_step_limit,
    progress_core,
)
from racer.train.hyperparameters import RACER_DEFAULTS, Hyperparameters, load_hyperparameters
from racer.train.machine import run_threads
from racer.train.networks import policy_name, run_policy_kwargs
from racer.train.ppo import CLIP_RANGE, EpisodicPPO
from racer.train.recipe import race_metadata
from racer.train.recording import RecordingCallback
from racer.train.run_state import (
    LAP_CHECK_LAPS,
    RunLock,
    RunState,
    best_model,
    best_summary,
    read_run_state,
    roll_back,
    saved_updates,
    write_state,
)
from racer.train.sac import make_sac
from racer.train.stall import StallWatch


@dataclass
class TrainResult:
    """What a `train` call did.

    Attributes:
        run: the run folder.
        state: the run's state after it.
        stopped: why it stopped ("budget", "updates", "lapping", "episodes", "interrupted").
        steps_per_second: env steps per wall second in this session, updates included.
        last_lap_check: the last lap check's one-line summary.
    """

    run: Path
    state: RunState
    stopped: str
    steps_per_second: float
    last_lap_check: str = ""


class Trainer:
    """One training run in one run folder (new, resumed, or cloned from another run).

    Args:
        config: the run's configuration (ignored on resume: the run's own is used).
        run_dir: the run folder.
        resume: continue the run in ``run_dir``.
        pretrained: start from another run's best model or a DeepRacer model (DeepRacer's
            "clone", `racer.train.clone`).
        say: where progress lines go.
        watch: called with the env's core (`racer.env.core.RacerCore`) after every training
            step, e.g. the live view (`racer.viewer.live.LiveView`); it must be quick.
    """

    def __init__(
        self,
        config: TrainConfig | None,
        run_dir: str | Path,
        *,
        resume: bool = False,
        pretrained: str | Path | None = None,
        say: Callable[[str], None] = print,
        watch: Callable[[Any], None] | None = None,
    ) -> None:
        self.folder = RunFolder(run_dir)
        self.say = say
        self.watch = watch
        if resume:
            config, self.state = self._load_run()
        else:
            if config is None:
                raise ConfigError("a new run needs a TrainConfig.")
            self.state = RunState()
        self.pretrained = Path(pretrained) if pretrained else None
        self.config = clone_config(config, self.pretrained) if self.pretrained else config
        self._pretrained_policy: dict[str, Any] = {}  # its state dict, checked by `run`
        self.resume = resume

    # ------------------------------------------------------------------------------- set-up
    def _load_run(self) -> tuple[TrainConfig, RunState]:
        folder = self.folder
        if not folder.config_file.exists():
            raise ConfigError(f"{folder.root} is not a racer run to resume: {folder.config_file} "
                              f"is missing. Start a new run with racer train.")  # fmt: skip
        config = load_run_config(folder, own_copies=False)
        state, _ = read_run_state(folder)  # read again under the lock, in `run`
        return config, state

    def _refuse_existing_run(self) -> None:
        folder = self.folder
        if folder.config_file.exists():
            raise ConfigError(
                f"{folder.root} already holds a run. Continue it with racer "
                f"train --resume {folder.root}, or choose a new folder."
            )

    def _prepare_folder(self, hyper: Hyperparameters, metadata: Any, track_name: str) -> None:
        """A new run's files, under the lock: its inputs, the log header, the empty state."""
        folder = self.folder
        self._refuse_existing_run()
        folder.create()
        reward = resolve_reward_path(self.config.env.reward_function)
        try:
            shutil.copyfile(reward, folder.reward_function)
        except OSError as exc:
            raise LogError(f"cannot copy the reward function to {folder.reward_function}: "
                           f"{exc.strerror}.") from None  # fmt: skip
        write_text_atomic(
            folder.model_metadata, json.dumps(metadata.to_json_dict(), indent=2) + "\n"
        )
        write_text_atomic(folder.hyperparameters, hyper.to_json())
        with RobomakerLog(folder.robomaker_log) as robomaker:
            robomaker.write_header(hyper, metadata, track_name)
            size = robomaker.sync()
        write_text_atomic(folder.config_file, dump_toml(config_to_dict(self.config)))
        # Nothing is committed yet, but from now on a missing state.json means a lost one.
        self.state = replace(self.state, robomaker_bytes=size)
        write_state(folder, self.state)

    def _policy_kwargs(self, metadata: Any) -> dict[str, Any]:
        """SB3's policy_kwargs: the network preset, with a lidar embedder if the model has one."""
        return run_policy_kwargs(self.config, metadata)

    # --------------------------------------------------------------------------------- run
    def run(self) -> TrainResult:
        """Train until the budget, the iteration limit or a stop condition; returns the result.

        The run folder is locked before anything is written to it, and the lock file is
        removed when the run ends (normally, with an error or on Ctrl-C).

        Raises:
            RacerError: bad configuration, a failing reward function (its params saved in the
                run's logs), an unwritable run folder, or another racer train running in it;
                committed iterations stay intact.
        """
        cfg = self.config
        hyper = (load_hyperparameters(cfg.hyperparameters) if cfg.hyperparameters
                 else RACER_DEFAULTS)  # fmt: skip
        if self.resume:
            hyper = load_hyperparameters(self.folder.hyperparameters)
        metadata = load_metadata(cfg.env)
        if not self.resume:  # bad input must fail before a run folder exists
            load_track(cfg.env.track, deduplicate=cfg.env.deduplicate_waypoints)
            if cfg.race:
                metadata = race_metadata(metadata, cfg.env)
            # Imported in a worker process: module-level code that hangs or exits cannot take
            # racer train with it.
            RewardWorker(cfg.env.reward_function, timeout=cfg.env.reward_timeout).close()
            if self.pretrained is not None:
                self._pretrained_policy = pretrained_weights(self.pretrained, cfg, metadata)
        track = load_track(cfg.env.track, reverse=cfg.env.reverse)
        # Locked before any write, and before the existing-run check, so that a run still
        # training there is named as such: a refused second run changes nothing.
        lock = RunLock.acquire(self.folder.root, resume=self.resume)
        try:
            if self.resume:
                # Read again under the lock: a run that held it may have committed since.
                self.state, note = read_run_state(self.folder)
                if note:
                    self.say(note)
                self.folder.create()
            else:
                self._prepare_folder(hyper, metadata, track.name)
            return self._train(hyper, metadata, track)
        finally:
            lock.release()

    def _train(self, hyper: Hyperparameters, metadata: Any, track: Track) -> TrainResult:  # noqa: C901
        """The training loop of `run`, in a prepared and locked run folder.

        (C901: the loop reads best in one piece.)
        """
        cfg, folder = self.config, self.folder
        torch_threads, numba_threads = run_threads(cfg)
        torch.set_num_threads(torch_threads)
        numba.set_num_threads(numba_threads)
        # The run's own copies of the reward function and model_metadata.json, as DeepRacer uses
        # the uploaded files: editing the original later changes neither this run nor a resume.
        env_config = replace(cfg.env, reward_function=str(folder.reward_function),
                             model_metadata=str(folder.model_metadata),
                             reward_log=str(folder.reward_log),
                             failure_dir=str(folder.logs))  # fmt: skip
        seed = cfg.seed + 1000 * (self.state.update + 1)  # a resumed run draws new starts
        env = RacerVecEnv(env_config, cfg.num_envs, seed=seed, spread_starts=True)
        continuous = not isinstance(env.core.action_space, DiscreteActionSpace)
        recorder = SimtraceRecorder(track.length, continuous, first_episode=self.state.episodes)
        metrics = roll_back(self.folder, self.state, cfg.best_model_metric, self.resume)
        robomaker = RobomakerLog(folder.robomaker_log)
        finished: list[EpisodeLog] = []
        watch = self.watch

        def hook(actions: np.ndarray, rewards: np.ndarray, dones: np.ndarray,
                 infos: list[dict[str, Any]]) -> int:  # fmt: skip
            # the core's float64 rewards: the vec env hands SB3 float32 ones
            done = recorder.record(actions, env.core.rewards, dones, infos, time.time())
            finished.extend(done)
            if watch is not None:
                watch(env.core)
            return len(done)

        self._recording = RecordingCallback(hook)  # every round's steps, PPO and SAC alike
        model = self._model(env, hyper, metadata, track.length)
        # The evaluations' simulators, built once per run (as DeepRacer's evaluation worker
        # keeps its own): each evaluation starts them over.
        progress_sim = progress_core(env_config, cfg.eval_episodes)
        lap_sim = lap_core(env_config, LAP_CHECK_LAPS, resets=0) if cfg.lap_check_every else None
        stall = StallWatch(folder, track.name, lap_step_limit(env.core), env_config.dt,
                           env_config.episode.max_episode_steps)  # fmt: skip
        started = time.perf_counter()
        session_steps = 0
        stopped = "budget"
        last_check = ""
        pending: list[EpisodeLog] = []  # finished, not yet a whole logging iteration
        try:
            while True:
                update = self.state.update + 1
                t0 = time.perf_counter()
                steps_before = model.num_timesteps
                self._learn_round(model)
                episodes, finished[:] = list(finished), []
                pending += episodes
                session_steps += model.num_timesteps - steps_before
                evaluation = drive_progress(progress_sim, SB3Policy(model))
                check = None
                if lap_sim is not None and update % cfg.lap_check_every == 0:
                    check = drive_laps(lap_sim, SB3Policy(model), record=False)
                    last_check = check.summary()
                per_iteration = hyper.num_episodes_between_training
                whole = len(pending) // per_iteration * per_iteration
                written, pending = pending[:whole], pending[whole:]
                finished_count = self.state.episodes + len(written) + len(pending)
                self._commit(model, update, written, finished_count, per_iteration, evaluation,
                             check, metrics, robomaker, time.perf_counter() - t0)  # fmt: skip
                longest, warning = stall.check(recorder)
                self._report(update, episodes, evaluation, check, time.perf_counter() - t0,
                             model, started, model.num_timesteps - steps_before,
                             longest)  # fmt: skip
                if warning:
                    self.say(warning)
                if cfg.max_updates and update + 1 >= cfg.max_updates:
                    stopped = "updates"
                    break
                if cfg.minutes and time.perf_counter() - started >= 60.0 * cfg.minutes:
                    stopped = "budget"
                    break
                if cfg.stop_when_lapping and check is not None and check.complete:
                    stopped = "lapping"
                    break
                if self.state.episodes >= hyper.term_cond_max_episodes:
                    stopped = "episodes"
                    break
        except RewardFunctionError as exc:
            raise RewardFunctionError(
                f"{exc}\nThe run stopped; {saved_updates(self.state)}. Fix the "
                f"run's copy of the function, {folder.reward_function}, and continue with: racer "
                f"train --resume {folder.root}"
            ) from None
        except KeyboardInterrupt:
            stopped = "interrupted"
            self.say(f"interrupted: {saved_updates(self.state)}; continue with "
                     f"racer train --resume {folder.root}")  # fmt: skip
        finally:
            env.close()
            progress_sim.close()
            if lap_sim is not None:
                lap_sim.close()
            robomaker.close()
        wall = time.perf_counter() - started
        return TrainResult(folder.root, self.state, stopped, session_steps / max(wall, 1e-9),
                           last_check)  # fmt: skip

    def _learn_round(self, model: Any) -> None:
        """One round: a PPO iteration (collect, then update), or SAC's steps_per_car steps."""
        if isinstance(model, EpisodicPPO):  # one iteration, however many steps it takes
            model.learn(total_timesteps=1, reset_num_timesteps=False, tb_log_name="ppo",
                        progress_bar=False, callback=self._recording)  # fmt: skip
            return
        steps = self.config.steps_per_car * self.config.num_envs
        model.learn(total_timesteps=steps, reset_num_timesteps=False, tb_log_name="sac",
                    progress_bar=False, callback=self._recording)  # fmt: skip

    def _model(self, env: RacerVecEnv, hyper: Hyperparameters, metadata: Any,
               length: float) -> Any:  # fmt: skip
        cfg = self.config
        last = self.folder.checkpoints / "last.zip"
        sac = metadata.training_algorithm == "sac"
        if self.resume and last.exists():
            model = load_checkpoint(last, replace(cfg, env=env.config), env=env, device=cfg.device)
            model.tensorboard_log = str(self.folder.tensorboard)
            return model
        if sac:
            model = make_sac(env, hyper, self._policy_kwargs(metadata), seed=cfg.seed,
                             device=cfg.device,
                             tensorboard_log=str(self.folder.tensorboard))  # fmt: skip
            if self._pretrained_policy:
                start_from(model.policy, self._pretrained_policy)
            return model
        if cfg.update_every == "steps":
            capacity, episodes = cfg.steps_per_car, 2**62  # every update: steps_per_car steps
        else:
            space = env.core.action_space
            speeds = space.speed if isinstance(space, DiscreteActionSpace) else (space.speed_low,)
            lap_steps = length / max(min(speeds), 0.3) / cfg.env.dt
            per_car = math.ceil(2.0 * hyper.num_episodes_between_training / cfg.num_envs)
            capacity = int(min(max(per_car * lap_steps, 64), 4000))
            episodes = hyper.num_episodes_between_training
        model = EpisodicPPO(
            policy_name(env.observation_space), env, n_steps=capacity, batch_size=hyper.batch_size,
            n_epochs=hyper.num_epochs, learning_rate=hyper.lr, gamma=hyper.discount_factor,
            gae_lambda=0.95, clip_range=CLIP_RANGE, ent_coef=hyper.beta_entropy,
            policy_kwargs=self._policy_kwargs(metadata), seed=cfg.seed,
            device=cfg.device, tensorboard_log=str(self.folder.tensorboard), verbose=0,
            episodes_per_iteration=episodes, huber=hyper.huber,
        )  # fmt: skip
        if self._pretrained_policy:
            start_from(model.policy, self._pretrained_policy)
        return model

    # ------------------------------------------------------------------------------ commit
    def _commit(self, model: Any, update: int, episodes: list[EpisodeLog], finished: int,
                per_iteration: int, evaluation: Any, check: Any, metrics: TrainingMetrics,
                robomaker: RobomakerLog, seconds: float) -> None:  # fmt: skip
        """Write the round's logs and checkpoint, then the state (the commit point).

        ``episodes`` are the whole iterations to write; ``finished`` counts every training
        episode finished so far, the next iteration's included. The best model is the update
        whose evaluation scores best by the run's ``best_model_metric``
        (`racer.train.run_state.best_model`, the reward graph's rule).
        """
        folder, state = self.folder, self.state
        iteration = state.iteration
        for start in range(0, len(episodes), per_iteration):
            iteration += 1
            chunk = episodes[start : start + per_iteration]
            write_simtrace(folder.training_simtrace / f"{iteration}-iteration.csv", chunk)
            for trial, episode in enumerate(chunk, start=1):
                metrics.add_training(episode, trial)
                robomaker.write_episode(episode)
        logged = robomaker.sync()  # a resume after a failed commit cuts the log back to this
        count = state.episodes + len(episodes)
        # The evaluation's ``episode``: the training episodes finished by now (DeepRacer's
        # count at the time), those of an unfinished iteration included, and always past the
        # previous evaluation's, so each update's evaluation is a group of its own in the
        # reward graph, as in DeepRacer, where one evaluation follows each iteration.
        previous = [e["episode"] for e in metrics.entries if e["phase"] == "evaluation"]
        key = max(finished, previous[-1] + 1 if previous else 0)
        for k in range(len(evaluation.progress)):
            metrics.add_entry("evaluation", float(evaluation.rewards[k]),
                              float(evaluation.progress[k]), evaluation.status[k],
                              float(evaluation.start_time[k]), float(evaluation.end_time[k]),
                              key, per_iteration)  # fmt: skip
        new = replace(state, update=update, iteration=iteration, episodes=count,
                      timesteps=model.num_timesteps, seconds=state.seconds + seconds,
                      robomaker_bytes=logged, metrics_entries=len(metrics.entries))  # fmt: skip
        checkpoints = folder.checkpoints
        self._save(model, checkpoints / f"update-{update}.zip")
        shutil.copyfile(checkpoints / f"update-{update}.zip", checkpoints / ".last.zip")
        os.replace(checkpoints / ".last.zip", checkpoints / "last.zip")
        best, fields = best_model(metrics.entries, metrics.best_model_metric)
        if best == len(evaluation_groups(metrics.entries)) - 1:  # this update's evaluation
            shutil.copyfile(checkpoints / "last.zip", checkpoints / ".best.zip")
            os.replace(checkpoints / ".best.zip", checkpoints / "best.zip")
            new = replace(new, best_update=update, **fields)
        if check is not None and check.complete and state.first_lap_check < 0:
            new = replace(new, first_lap_check=update, first_lap_seconds=new.seconds)
        stale = update - self.config.keep_checkpoints
        (checkpoints / f"update-{stale}.zip").unlink(missing_ok=True)
        metrics.save()
        append_progress(folder.progress_log, {
            "update": update, "iteration": iteration, "episodes": count,
            "timesteps": model.num_timesteps, "seconds": new.seconds,
            "train_progress": float(np.mean([e.progress for e in episodes])) if episodes
            else math.nan,
            "eval_progress": evaluation.mean_progress,
            "lap_check_laps": -1 if check is None else check.laps,
        })  # fmt: skip
        write_state(folder, new)
        self.state = new

    def _save(self, model: Any, path: Path) -> None:
        tmp = path.with_name(f".{path.stem}.tmp.zip")
        try:
            model.save(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise LogError(
                f"cannot write the checkpoint {path}: {exc.strerror}. Free some disk "
                "space; the run's earlier iterations are intact."
            ) from None

    def _report(self, update: int, episodes: list[EpisodeLog], evaluation: Any, check: Any,
                seconds: float, model: Any, started: float, steps: int,
                longest: float) -> None:  # fmt: skip
        cfg, state = self.config, self.state
        rewards = [e.total_reward for e in episodes] or [math.nan]
        progress = [e.progress for e in episodes] or [math.nan]
        elapsed = time.perf_counter() - started
        left = ""
        if cfg.minutes:
            left = f", {max(0.0, 60.0 * cfg.minutes - elapsed) / 60.0:4.1f} min left"
        if episodes:
            finished = (f"{len(episodes):3d} episodes, avg reward {np.mean(rewards):8.1f}, avg "
                        f"completion {np.mean(progress):5.1f} %")  # fmt: skip
        else:
            finished = "no episode finished"
        logged = float(np.mean(np.maximum(evaluation.progress, 0.0).astype(int)))  # as logged
        line = (f"update {update:3d} (iteration {state.iteration:3d}): {finished}, eval "
                f"completion {logged:5.1f} % ({best_summary(state)}), longest "
                f"running episode {longest:4.0f} s, {steps / max(seconds, 1e-9):5.0f} steps/s, "
                f"{elapsed / 60.0:4.1f} min{left}")  # fmt: skip
        self.say(line)
        if check is not None:
            self.say(f"  lap check (3 laps from the line, no resets): {check.summary()}")
        logger = model.logger
        logger.record("deepracer/avg_reward", float(np.mean(rewards)))
        logger.record("deepracer/avg_completion", float(np.mean(progress)))
        logger.record("deepracer/eval_completion", evaluation.mean_progress)
        logger.record("deepracer/iteration", state.iteration)
        logger.record("time/steps_per_second", steps / max(seconds, 1e-9))
        if check is not None:
            logger.record("deepracer/lap_check_laps", check.laps)
        logger.dump(model.num_timesteps)


def train(config: TrainConfig | None, run_dir: str | Path, **kwargs: Any) -> TrainResult:
    """Train a new run (or ``resume=True`` an existing one); see `Trainer`."""
    return Trainer(config, run_dir, **kwargs).run()
