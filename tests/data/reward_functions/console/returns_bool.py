"""The console rejects it, racer runs it: returns the bool True (DeepRacer's float() makes 1.0)."""


def reward_function(params):
    return params["speed"] >= 0.0 or True
