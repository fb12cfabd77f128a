"""CLI: `python -m evalsweep.simulator --port 8765` runs the simulator until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from pydantic import ValidationError

from evalsweep.simulator.config import FaultConfig, ModelProfile, SimulatorConfig
from evalsweep.simulator.ratelimit import RateLimitConfig
from evalsweep.simulator.server import bind_socket, build_app, start_site, url_of


_REPLY_FAULTS = {
    "invalid_json": "a body cut off mid-JSON",
    "empty_body": "an empty body",
    "error_body_200": "the provider's error object",
    "oversize": "a reply of --oversize-bytes, max_tokens ignored",
}


def _accuracy(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=P, got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"accuracy must be a number, got {value!r}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m evalsweep.simulator",
        description="Local LLM simulator (OpenAI /v1/chat/completions, Anthropic /v1/messages, Gemini "
                    "/v1beta/models/{model}:generateContent).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="0 picks a free port")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--latency-jitter-ms", type=float, default=0.0)
    p.add_argument("--default-accuracy", type=float, default=None, help="for model names without a profile")
    p.add_argument(
        "--accuracy", type=_accuracy, action="append", default=[], metavar="NAME=P",
        help="accuracy of model NAME (repeatable; adds to / overrides sim, sim-weak, sim-strong)",
    )
    p.add_argument(
        "--judge-accuracy", type=_accuracy, action="append", default=[], metavar="NAME=P",
        help="how often model NAME grades correctly as a judge (default: its accuracy)",
    )
    p.add_argument("--invalid-structured-rate", type=float, default=0.0, metavar="R",
                   help="share of first structured answers returned invalid")
    p.add_argument("--invalid-structured-substring", default=None,
                   help="prompts containing it never get a valid structured answer")
    for kind in ("429", "500", "503", "529", "drop"):
        p.add_argument(f"--rate-{kind}", type=float, default=0.0, metavar="R")
    for kind in _REPLY_FAULTS:
        p.add_argument(f"--rate-{kind.replace('_', '-')}", type=float, default=0.0, metavar="R",
                       help=f"share of requests answered 200 with {_REPLY_FAULTS[kind]}")
    p.add_argument("--oversize-bytes", type=int, default=20_000_000, metavar="N",
                   help="length of the text of an oversize reply")
    p.add_argument("--oversize-with-length", action="store_true",
                   help="send oversize replies with Content-Length (default: chunked)")
    p.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="retry-after on 429/529")
    p.add_argument("--max-prompt-chars", type=int, default=None)
    p.add_argument("--poison-substring", default=None, help="requests containing it always get 500")
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--require-api-key", default=None)
    p.add_argument("--batch-delay-s", type=float, default=0.0, metavar="S",
                   help="seconds until a batch (OpenAI Batch API, Anthropic Message Batches) has ended")
    p.add_argument("--rate-limit-requests", type=int, default=None, metavar="N",
                   help="a server-side rate limit: at most N requests per --rate-limit-window-s (429 beyond)")
    p.add_argument("--rate-limit-tokens", type=int, default=None, metavar="M",
                   help="a server-side rate limit: at most M tokens (prompt + max_tokens) per window")
    p.add_argument("--rate-limit-window-s", type=float, default=60.0, metavar="S")
    return p


def _rate_limit(args: argparse.Namespace) -> RateLimitConfig | None:
    if args.rate_limit_requests is None and args.rate_limit_tokens is None:
        return None
    return RateLimitConfig(requests=args.rate_limit_requests, tokens=args.rate_limit_tokens,
                           window_s=args.rate_limit_window_s)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    defaults = SimulatorConfig()
    profiles = dict(defaults.profiles)
    for name, acc in args.accuracy:
        profiles[name] = ModelProfile(accuracy=acc)
    for name, acc in args.judge_accuracy:
        base = profiles.get(name) or ModelProfile(accuracy=args.default_accuracy or defaults.default_accuracy)
        profiles[name] = base.model_copy(update={"judge_accuracy": acc})
    extra = {} if args.default_accuracy is None else {"default_accuracy": args.default_accuracy}
    return SimulatorConfig(
        profiles=profiles,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        faults=FaultConfig(
            rate_429=args.rate_429,
            rate_500=args.rate_500,
            rate_503=args.rate_503,
            rate_529=args.rate_529,
            rate_drop=args.rate_drop,
            **{f"rate_{kind}": getattr(args, f"rate_{kind}") for kind in _REPLY_FAULTS},
            oversize_bytes=args.oversize_bytes,
            oversize_chunked=not args.oversize_with_length,
            retry_after_s=args.retry_after,
            max_prompt_chars=args.max_prompt_chars,
            poison_substring=args.poison_substring,
            fault_seed=args.fault_seed,
            require_api_key=args.require_api_key,
            invalid_structured_rate=args.invalid_structured_rate,
            invalid_structured_substring=args.invalid_structured_substring,
            batch_delay_s=args.batch_delay_s,
            rate_limit=_rate_limit(args),
        ),
        **extra,
    )


async def _serve(config: SimulatorConfig, host: str, port: int) -> None:
    sock = bind_socket(host, port)
    runner = await start_site(build_app(config), sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"evalsweep simulator (not a real model) listening on {url_of(sock)}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        print(f"error: invalid simulator settings: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
