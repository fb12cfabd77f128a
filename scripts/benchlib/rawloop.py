"""Baseline: the least code that sends the same requests: asyncio, a semaphore, the raw openai SDK.

    python scripts/benchlib/rawloop.py --url URL --requests FILE --concurrency 100

FILE holds one JSON list of chat messages per line. Prints one JSON line with two wall times:
`wall_s` from `import openai` to the last answer (the job's eval_time_s also holds its SDK import
and client: like for like), and `loop_s`, the loop alone (client made, SDK imported before)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import pydantic  # noqa: F401  (a job has it loaded long before it imports the SDK: not on either clock)


async def _loop(url: str, messages: list[list[dict[str, str]]], concurrency: int, model: str,
                temperature: float, max_tokens: int, seed: int) -> dict[str, float | int]:
    t_import = time.perf_counter()
    import openai

    client = openai.AsyncOpenAI(api_key="evalsweep-simulator", base_url=f"{url.rstrip('/')}/v1", max_retries=0,
                                timeout=30)
    sem = asyncio.Semaphore(concurrency)
    errors = 0

    async def one(msgs: list[dict[str, str]]) -> str:
        nonlocal errors
        async with sem:
            try:
                resp = await client.chat.completions.create(model=model, messages=msgs,  # type: ignore[arg-type]
                                                            temperature=temperature, max_tokens=max_tokens,
                                                            seed=seed)
            except openai.APIError:
                errors += 1
                return ""
            return resp.choices[0].message.content or ""

    t0 = time.perf_counter()
    answers = await asyncio.gather(*(one(m) for m in messages))
    loop = time.perf_counter() - t0
    await client.close()
    return {"wall_s": time.perf_counter() - t_import, "loop_s": loop, "n": len(answers), "errors": errors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/benchlib/rawloop.py", description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--requests", type=Path, required=True)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--model", default="sim")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    with args.requests.open(encoding="utf-8") as f:
        messages = [json.loads(line) for line in f if line.strip()]
    out = asyncio.run(_loop(args.url, messages, args.concurrency, args.model, args.temperature, args.max_tokens,
                            args.seed))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
