"""Broken: its first call sums 10**12 numbers inside one C call, which no signal interrupts."""


def reward_function(params):
    return float(sum(range(10**12)))
