"""Broken: switches off the SIGALRM timer (and ignores the signal), then loops forever."""

import signal


def reward_function(params):
    signal.setitimer(signal.ITIMER_REAL, 0.0, 0.0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        pass
