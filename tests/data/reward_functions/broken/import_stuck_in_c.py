"""Broken: its module-level code sums 10**12 numbers inside one C call while being imported."""

TABLE_SIZE = sum(range(10**12))


def reward_function(params):
    return 1.0
