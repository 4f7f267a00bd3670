"""Lap time: pays the distance gained along the track each step, squared, and nothing else.

Each step pays (d / D) ** 2: d [m] how far the car got along the track since the last step, D how
far it would get at 4 m/s. The faster lap pays more; circling, zig-zags or crawling pay nothing,
off track 0.001. The last step's progress is kept in the module (racer keeps one per car, as
DeepRacer one per worker); a new episode shows as ``steps`` going down. racer train --race trains
with it.
"""

TOP_SPEED = 4.0  # [m/s] DeepRacer's fastest speed command
STEP = 1.0 / 15.0  # [s] DeepRacer's step
_last = {"steps": 0.0, "progress": 0.0}


def reward_function(params):
    steps = params["steps"]
    progress = max(params["progress"], 0.0)  # slightly negative just behind the start point
    if steps <= _last["steps"]:  # a new episode
        _last["progress"] = 0.0
    gained = progress - _last["progress"]
    _last["steps"], _last["progress"] = steps, progress
    if not params["all_wheels_on_track"] or params["is_offtrack"]:
        return 0.001
    distance = max(gained, 0.0) / 100.0 * params["track_length"]
    return float(min(distance / (TOP_SPEED * STEP), 2.0) ** 2)
