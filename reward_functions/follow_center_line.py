"""Follow the centre line: DeepRacer's default reward design, written for racer.

Pays 1.0 near the centre line, less further out, and almost nothing near the borders: three bands
at 10 %, 25 % and 50 % of the track width. The car learns to stay in the middle; it does not learn
to go fast.
"""


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
    return float(reward)
