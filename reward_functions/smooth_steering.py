"""Smooth steering: stay near the centre line without jerking the wheel from one step to the next.

Pays closeness to the centre line (1.0 on it, 0 at the border) times a smoothness factor that
falls from 1.0 to 0.1 as the steering angle changes by up to 30 degrees since the previous step.
The previous angle lives in module variables, which persist across steps as they do on
DeepRacer; a step count that does not go up marks a new episode and clears them. The car learns
steadier steering; with a coarse action space every change is a big one, so it may steer late
(and DeepRacer's wheels already take about 0.15 s to follow a new angle).
"""

MAX_CHANGE = 30.0  # [deg] a change of steering this large or larger pays the minimum
MIN_SMOOTHNESS = 0.1  # the smoothness factor never drops below this

# Module state: the previous call's step count and steering angle [deg].
previous_steps = None
previous_steering = 0.0


def reward_function(params):
    global previous_steps, previous_steering
    steps = params["steps"]
    steering = float(params["steering_angle"])
    new_episode = previous_steps is None or steps <= previous_steps
    change = 0.0 if new_episode else abs(steering - previous_steering)
    previous_steps, previous_steering = steps, steering
    half_width = 0.5 * params["track_width"]
    if not params["all_wheels_on_track"] or half_width <= 0.0:
        return 1e-3
    centre = max(0.0, 1.0 - params["distance_from_center"] / half_width)
    smoothness = max(MIN_SMOOTHNESS, 1.0 - change / MAX_CHANGE)
    return float(max(1e-3, centre * smoothness))
