"""Broken: keeps 10 MB more on every call (a "history" that is never trimmed)."""

history = []


def reward_function(params):
    history.append(bytearray(10 * 2**20))
    return 1.0
