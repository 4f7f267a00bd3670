"""Prevent zig-zag: DeepRacer's third example, written for racer.

The centre-line bands of follow_center_line (1.0, 0.5, 0.1, then 1e-3 beyond half the track
width), multiplied by 0.8 whenever the steering angle exceeds 15 degrees either way. The car
learns to stay central with gentle steering rather than weaving; on tight tracks some corners
need more than 15 degrees (DeepRacer's simulated car turns only about half as tightly as
its wheels point at full lock: a 1 m radius needs 15 degrees, a 0.6 m one 28), so set the
threshold to suit your track and action space.
"""

STEERING_THRESHOLD = 15.0  # [deg] steering beyond this either way costs 20 %


def reward_function(params):
    track_width = params["track_width"]
    distance = params["distance_from_center"]
    if distance <= 0.1 * track_width:
        reward = 1.0
    elif distance <= 0.25 * track_width:
        reward = 0.5
    elif distance <= 0.5 * track_width:
        reward = 0.1
    else:
        reward = 1e-3  # likely off track
    if abs(params["steering_angle"]) > STEERING_THRESHOLD:
        reward *= 0.8
    return float(reward)
