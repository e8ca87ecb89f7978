"""SIGTERM and SIGINT end a service by setting an event its main loop watches."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
