"""The console rejects it: on its first call it writes a file, runs a program, connects to a port.

Each attempt prints whether it was allowed, so a test can see what racer's sandbox stops. The
file goes next to this one and the port is read from ``port.txt`` beside it (a test copies this
file into a temporary folder and listens on that port).
"""

import socket
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
tried = []


def attempt(name, action):
    try:
        action()
        print(f"{name}: allowed")
    except Exception as exc:
        print(f"{name}: stopped ({type(exc).__name__})")


def connect():
    port = int((HERE / "port.txt").read_text())
    socket.create_connection(("127.0.0.1", port), timeout=2.0).close()


def reward_function(params):
    if not tried:
        tried.append(True)
        attempt("write", lambda: (HERE / "written.txt").write_text("x"))
        attempt("program", lambda: subprocess.run(["true"], check=True))
        attempt("network", connect)
        attempt("read", lambda: Path("/etc/passwd").read_text())
    return 1.0
