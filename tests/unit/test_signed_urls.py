"""Signed URLs are reused while at least half valid: a redraw gives the browser the same URLs
(so its cache serves the images) and signs nothing new."""

from __future__ import annotations

from core.services.signed_urls import SignedUrlCache


class Signer:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, paths: list[str], ttl: int) -> dict[str, str]:
        self.calls.append(list(paths))
        n = len(self.calls)
        return {p: f"https://x/{p}?v={n}" for p in paths if not p.startswith("missing")}


def test_a_url_is_reused_until_half_its_lifetime_is_left_then_signed_again() -> None:
    now = [1000.0]
    cache, sign, store = SignedUrlCache(clock=lambda: now[0]), Signer(), object()
    first = cache.signed(["a", "b"], 100, sign, store)
    now[0] += 50  # exactly half left: still reused
    assert cache.signed(["a", "b"], 100, sign, store) == first
    assert sign.calls == [["a", "b"]]
    now[0] += 1
    again = cache.signed(["a", "c"], 100, sign, store)
    assert sign.calls == [["a", "b"], ["a", "c"]]  # one call for every stale or new path
    assert again["a"] != first["a"]


def test_only_the_missing_paths_are_signed_and_failures_are_not_remembered() -> None:
    cache, sign, store = SignedUrlCache(), Signer(), object()
    cache.signed(["a"], 100, sign, store)
    urls = cache.signed(["a", "b", "missing"], 100, sign, store)
    assert sign.calls == [["a"], ["b", "missing"]]
    assert set(urls) == {"a", "b"}
    cache.signed(["missing"], 100, sign, store)
    assert sign.calls[-1] == ["missing"]


def test_urls_are_per_store_bounded_and_forgotten_with_their_file() -> None:
    cache, sign = SignedUrlCache(max_urls=2), Signer()
    one, two = object(), object()
    cache.signed(["a"], 100, sign, one)
    cache.signed(["a"], 100, sign, two)
    assert sign.calls == [["a"], ["a"]]  # another store signs its own
    cache.signed(["b"], 100, sign, one)  # over the bound: the least recently used goes
    cache.signed(["a"], 100, sign, one)
    assert sign.calls[-1] == ["a"]
    cache.forget(["b"])
    cache.signed(["b"], 100, sign, one)
    assert sign.calls[-1] == ["b"]
