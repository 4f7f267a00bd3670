"""Broken: loops forever and catches everything, the time-out too, then loops again."""


def reward_function(params):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
