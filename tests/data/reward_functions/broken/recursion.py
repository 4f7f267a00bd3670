"""Broken: a helper that calls itself without end: RecursionError on every call."""


def distance_to_next(params, i):
    return distance_to_next(params, i + 1)


def reward_function(params):
    return 1.0 / (1.0 + distance_to_next(params, 0))
