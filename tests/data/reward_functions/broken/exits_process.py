"""Broken: ends its whole process with os._exit(0) at step 3 (no exception, no output)."""

import os


def reward_function(params):
    if params["steps"] >= 3:
        os._exit(0)
    return 1.0
