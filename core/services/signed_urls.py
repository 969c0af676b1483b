"""Signed image URLs reused while they are valid: the same page drawn again gives the browser the
same URLs, so it shows the images from its cache instead of downloading them again (the file
route answers with long-lived cache headers), and a rerun signs nothing new (Supabase: no
request at all when every URL on the page is known)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# How many URLs one process remembers (a History page shows 24; least recently used go first).
MAX_URLS = 20_000


class SignedUrlCache:
    """(blob store, path) → (url, expiry). A URL is handed out again while at least half of
    its lifetime is left, so every URL given out is valid for ≥ ttl / 2."""

    def __init__(self, max_urls: int = MAX_URLS, clock: Callable[[], float] = time.time) -> None:
        # keyed by (id of the store, path); the entry holds the store, so the id stays its own
        self._urls: OrderedDict[tuple[int, str], tuple[str, float, object]] = OrderedDict()
        self._max = max_urls
        self._clock = clock
        self._lock = threading.Lock()

    def signed(
        self,
        paths: list[str],
        ttl: int,
        sign: Callable[[list[str], int], dict[str, str]],
        store: object,
    ) -> dict[str, str]:
        """URLs for `paths` of `store`: the remembered ones still fresh, the rest from one
        `sign` call."""
        now = self._clock()
        out: dict[str, str] = {}
        with self._lock:
            for path in paths:
                key = (id(store), path)
                known = self._urls.get(key)
                if known is not None and known[1] - now >= ttl / 2:
                    out[path] = known[0]
                    self._urls.move_to_end(key)
        missing = [p for p in dict.fromkeys(paths) if p not in out]
        if not missing:
            return out
        fresh = sign(missing, ttl)
        expires = now + ttl
        with self._lock:
            for path, url in fresh.items():
                key = (id(store), path)
                self._urls[key] = (url, expires, store)
                self._urls.move_to_end(key)
            while len(self._urls) > self._max:
                self._urls.popitem(last=False)
        out.update(fresh)
        return out

    def forget(self, paths: list[str]) -> None:
        """Drop the URLs of deleted files (of every store)."""
        gone = set(paths)
        with self._lock:
            for key in [k for k in self._urls if k[1] in gone]:
                del self._urls[key]
