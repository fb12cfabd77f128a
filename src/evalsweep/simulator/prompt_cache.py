"""The simulator's prompt cache, as Anthropic's behaves for `cache_control` breakpoints: the first
request with a prefix writes it (usage.cache_creation_input_tokens), a later one with the same
prefix reads it (cache_read_input_tokens), and input_tokens counts only what follows the last
breakpoint. No minimum length and no expiry: entries last as long as the simulator.

And as OpenAI's and Gemini's automatic caching of long prompts behaves (`automatic`): no
breakpoints, a minimum length, and only reads are reported, inside the prompt's token count."""

from __future__ import annotations

import hashlib
import threading

from evalsweep.simulator.answers import count_tokens, count_words, tokens_of_words


class PromptCache:
    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def use(self, model: str, prefixes: list[str]) -> tuple[int, int, int]:
        """(tokens written, tokens read, tokens of the longest prefix) for a request whose cache
        breakpoints end these prefixes (shortest first)."""
        if not prefixes:
            return 0, 0, 0
        keys = [hashlib.sha256(f"{model}\0{p}".encode()).hexdigest() for p in prefixes]
        tokens = [count_tokens(p) for p in prefixes]
        with self._lock:
            hit = max((i for i, k in enumerate(keys) if k in self._seen), default=-1)
            self._seen.update(keys)
        read = tokens[hit] if hit >= 0 else 0
        written = tokens[-1] - read if hit < len(keys) - 1 else 0
        return max(0, written), read, tokens[-1]

    def automatic(self, model: str, texts: list[str], *, min_tokens: int, step: int = 1) -> int:
        """The tokens read from the cache by a request of these messages: those of the longest prefix
        (the messages before one of them, where the simulator draws the line) that an earlier request
        sent, once it is min_tokens long, in whole steps past min_tokens (OpenAI counts cached tokens
        128 at a time). Every long enough prefix of this request is cached for the next."""
        found = []
        words = 0
        digest = hashlib.sha256(f"auto\0{model}".encode())
        for text in texts[:-1]:  # each prefix counted and hashed on from the one before: one pass
            words += count_words(text)
            digest.update(b"\0" + text.encode())
            tokens = tokens_of_words(words)
            if tokens >= min_tokens:
                found.append((digest.copy().hexdigest(), tokens))
        if not found:
            return 0
        with self._lock:
            hit = max((tokens for key, tokens in found if key in self._seen), default=0)
            self._seen.update(key for key, _ in found)
        return hit - (hit - min_tokens) % step if hit else 0

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
