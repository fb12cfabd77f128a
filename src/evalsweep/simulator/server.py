"""The simulator's aiohttp app (routes, /_sim/stats, /health) and the ways to serve it.

`SimulatorServer` runs the app on its own event loop in a daemon thread, so a job's asyncio loop
and the simulator never share a loop (a blocked job cannot stall the server and vice versa).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from evalsweep.simulator import anthropic_batch, gemini_batch, openai_batch
from evalsweep.simulator.config import SimulatorConfig
from evalsweep.simulator.counters import SimStats
from evalsweep.simulator.handler import ANTHROPIC, GEMINI, OPENAI, Simulator
from evalsweep.simulator.replies import json_response

MARK_HEADER = "x-evalsweep-simulator"


_SIM_KEY = web.AppKey("evalsweep_simulator", Simulator)


def build_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp Application (for `aiohttp.web.run_app` or test clients)."""
    return _make_app(Simulator(config or SimulatorConfig()))


def _make_app(sim: Simulator) -> web.Application:
    app = web.Application(client_max_size=64 * 1024**2)
    app[_SIM_KEY] = sim

    def endpoint(fmt: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return await sim.handle(request, fmt)

        return handler

    async def stats(_: web.Request) -> web.Response:
        return json_response(sim.state.snapshot().model_dump(), 200, {})

    async def reset(_: web.Request) -> web.Response:
        sim.state.reset()
        return json_response({"ok": True}, 200, {})

    async def health(_: web.Request) -> web.Response:
        return json_response({"status": "ok", "simulator": True}, 200, {})

    async def mark(_: web.Request, response: web.StreamResponse) -> None:
        response.headers[MARK_HEADER] = "1"

    app.router.add_post("/v1/chat/completions", endpoint(OPENAI))
    app.router.add_post("/v1/messages", endpoint(ANTHROPIC))
    # Gemini's generateContent: v1beta is what evalsweep's client asks for, v1 the SDK's own default.
    for version in ("v1beta", "v1"):
        app.router.add_post(f"/{version}/models/{{model}}:generateContent", endpoint(GEMINI))
    openai_batch.add_routes(app, sim)  # files + batches (evalsweep.simulator.openai_batch)
    anthropic_batch.add_routes(app, sim)  # message batches (evalsweep.simulator.anthropic_batch)
    gemini_batch.add_routes(app, sim)  # batchGenerateContent (evalsweep.simulator.gemini_batch)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/health", health)
    app.on_response_prepare.append(mark)
    return app


def app_stats(app: web.Application) -> SimStats:
    """Counters of an app made by `build_app`."""
    return app[_SIM_KEY].state.snapshot()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def start_site(app: web.Application, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


class SimulatorServer:
    """The simulator on its own event loop in a daemon thread.

    >>> with SimulatorServer(SimulatorConfig()) as srv:
    ...     client = openai.AsyncOpenAI(base_url=f"{srv.url}/v1", api_key="x")
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        # An aiohttp app is bound to one loop; the simulator (counters) survives a restart.
        self._sim = Simulator(self.config)
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("SimulatorServer is not running; call start() first")
        return self._url

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("SimulatorServer already started")
        sock = bind_socket(self.host, self.port)
        self._url = url_of(sock)
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._runner = loop.run_until_complete(start_site(_make_app(self._sim), sock))
            except BaseException as exc:  # reported to start() below, then re-raised there
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"evalsweep-simulator-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._url = None
            sock.close()
            raise failure[0]
        return self._url

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        self._runner = None
        self._url = None

    def stats(self) -> SimStats:
        """A consistent snapshot of the counters; safe from any thread."""
        return self._sim.state.snapshot()

    def reset(self) -> None:
        """Zero the counters and restart the fault sequence from `fault_seed`."""
        self._sim.state.reset()

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
