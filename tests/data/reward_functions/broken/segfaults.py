"""Broken: reads memory address 0 through ctypes at step 3: a segmentation fault."""

import ctypes


def reward_function(params):
    if params["steps"] >= 3:
        ctypes.string_at(0)
    return 1.0
