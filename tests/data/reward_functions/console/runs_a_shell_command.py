"""The console rejects it, racer runs it: imports os and runs a shell command on its first call."""

import os

ran = []


def reward_function(params):
    if not ran:
        ran.append(os.system("true"))
    return 1.0
