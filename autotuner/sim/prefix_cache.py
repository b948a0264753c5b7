"""Prefix caches of the simulated engines: KV slots of prompt prefixes kept for later requests.

Two engines, two designs, one small interface (:class:`PrefixCache`) the scheduler core uses:

* :class:`RadixCache` — SGLang's RadixAttention (``sglang/srt/mem_cache/radix_cache.py``): a radix
  tree over token ids whose nodes hold KV slots. A request's prompt is matched at admission (the
  matched part is not prefilled again), inserted once prefilled, and its path stays locked
  (``lock_ref``) while the request runs; unlocked leaves are evicted least recently used first
  when the pool needs room.
* :class:`BlockHashCache` — vLLM's automatic prefix caching (``vllm/v1/core/kv_cache_manager.py``,
  ``block_pool.py``): only full ``block_size``-token blocks are cached, each under the hash of its
  tokens chained to its parent's hash; a hit is the longest run of cached blocks from the start;
  blocks no request references stay cached until the free queue hands them out again (least
  recently freed first, a request's tail blocks before its head).

Sizes are in tokens. ``size`` tokens of the KV pool are held by the cache, ``evictable`` of them by
no running request (they count as free for admission, as both engines count them). Neither cache
knows the pool; the engine core evicts when it needs slots (:meth:`PrefixCache.evict`).

>>> c = RadixCache()
>>> c.insert(c.key([1, 2, 3, 4]), 4), c.match(c.key([1, 2, 3, 9]), 4)
(4, 3)
>>> lock = c.lock(c.key([1, 2, 3, 9]), 3)
>>> c.size, c.evictable, c.evict(10), c.size
(4, 1, 1, 3)
>>> c.unlock(lock); c.evictable
3
>>> b = BlockHashCache(block_size=2)
>>> b.insert(b.key([1, 2, 3, 4, 5]), 5), b.match(b.key([1, 2, 3, 9]), 3)
(4, 2)
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from array import array
from collections.abc import Sequence
from typing import Any

from autotuner.sim.args import SimServerArgs


class PrefixCache(ABC):
    """What the engine core asks of a prefix cache. A *key* is a prompt prepared once by
    :meth:`key` (its token ids, or its block hashes); ``n`` counts tokens from the prompt's start."""

    def __init__(self) -> None:
        self.size = 0  # tokens of KV held by the cache
        self.evictable = 0  # of which no request holds a lock
        self._clock = 0  # access counter: least recently used = smallest stamp

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    @abstractmethod
    def key(self, tokens: Sequence[int]) -> Any:
        """The prompt prepared for :meth:`match`, :meth:`insert` and :meth:`lock`."""

    @abstractmethod
    def cacheable(self, n: int) -> int:
        """How many of the first ``n`` tokens the cache can hold (vLLM: whole blocks only)."""

    @abstractmethod
    def match(self, key: Any, limit: int) -> int:
        """Length of the longest cached prefix of ``key``, at most ``limit`` tokens. No side effects."""

    @abstractmethod
    def insert(self, key: Any, n: int) -> int:
        """Cache the first ``cacheable(n)`` tokens of ``key``; returns how many were not cached yet
        (the slots the cache takes over; the rest duplicate cached ones and are freed)."""

    @abstractmethod
    def lock(self, key: Any, n: int) -> Any:
        """Protect the first ``n`` (cached) tokens from eviction and mark them used; a handle."""

    @abstractmethod
    def unlock(self, handle: Any) -> None:
        """Release a :meth:`lock`; the tokens stay cached and become evictable when unreferenced."""

    @abstractmethod
    def evict(self, n: int) -> int:
        """Free at least ``n`` unlocked tokens where there are that many, least recently used
        first; returns the tokens freed."""


# --- SGLang: radix tree ---------------------------------------------------------------------------
# Token ids are kept as bytes, _W per token: slicing and comparing prompts of thousands of tokens
# is then a memory copy and compare (tuples of ints cost a reference per token, and dominated the
# virtual clock's time on shared-prefix traffic).
_W = 8


class _Node:
    __slots__ = ("children", "key", "last_access", "lock_ref", "parent")

    def __init__(self, key: bytes, parent: _Node | None, stamp: int):
        self.key = key  # the token ids on the edge from the parent (_W bytes each)
        self.parent = parent
        self.children: dict[bytes, _Node] = {}  # by their edge's first token
        self.lock_ref = 0
        self.last_access = stamp

    @property
    def tokens(self) -> int:
        return len(self.key) // _W


def _common(a: bytes, b: bytes, start: int, end: int) -> int:
    """Bytes (whole tokens) of the common prefix of edge ``a`` and ``b[start:end]``."""
    n = min(len(a), end - start)
    if a[:n] == b[start:start + n]:
        return n
    lo, hi = 0, n // _W  # in tokens: a[:lo] matches, a[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid * _W] == b[start:start + mid * _W]:
            lo = mid
        else:
            hi = mid
    return lo * _W


class RadixCache(PrefixCache):
    """SGLang's radix tree (page size 1): every cached token is one KV slot."""

    def __init__(self) -> None:
        super().__init__()
        self.root = _Node(b"", None, 0)
        self.root.lock_ref = 1  # never evicted

    def key(self, tokens: Sequence[int]) -> bytes:
        if isinstance(tokens, array) and tokens.typecode == "q":  # the virtual clock's prompts
            return tokens.tobytes()
        return array("q", tokens).tobytes()

    def cacheable(self, n: int) -> int:
        return n

    def match(self, key: bytes, limit: int) -> int:
        node, i = self.root, 0
        limit = min(limit * _W, len(key))
        while i < limit:
            child = node.children.get(key[i:i + _W])
            if child is None:
                break
            m = _common(child.key, key, i, limit)
            i += m
            if m < len(child.key):
                break
            node = child
        return i // _W

    def _split(self, child: _Node, at: int) -> _Node:
        """Cut ``child``'s edge after ``at`` bytes; the new upper node inherits its locks."""
        upper = _Node(child.key[:at], child.parent, child.last_access)
        upper.lock_ref = child.lock_ref
        assert child.parent is not None
        child.parent.children[child.key[:_W]] = upper
        child.key = child.key[at:]
        child.parent = upper
        upper.children[child.key[:_W]] = child
        return upper

    def _walk(self, key: bytes, n: int, create: bool) -> tuple[_Node, int]:
        """The node that ends exactly at token ``n`` (splitting an edge there), creating the rest
        of the path when ``create``; returns (node, tokens added)."""
        node, i, added, stamp, end = self.root, 0, 0, self._tick(), n * _W
        while i < end:
            child = node.children.get(key[i:i + _W])
            if child is None:
                if not create:
                    raise KeyError(f"token {i // _W} of the prompt is not cached")
                child = _Node(key[i:end], node, stamp)
                node.children[key[i:i + _W]] = child
                added = (end - i) // _W
                self.size += added
                self.evictable += added
                return child, added
            m = _common(child.key, key, i, end)
            if m < len(child.key):
                if m == 0:
                    raise AssertionError("radix child keyed by a token its edge does not start with")
                child = self._split(child, m)
            child.last_access = stamp
            node = child
            i += m
        return node, added

    def insert(self, key: bytes, n: int) -> int:
        return self._walk(key, min(n, len(key) // _W), create=True)[1]

    def lock(self, key: bytes, n: int) -> _Node:
        node = self._walk(key, n, create=False)[0]
        walk: _Node | None = node
        while walk is not None and walk is not self.root:
            if walk.lock_ref == 0:
                self.evictable -= walk.tokens
            walk.lock_ref += 1
            walk = walk.parent
        return node

    def unlock(self, handle: _Node) -> None:
        walk: _Node | None = handle
        while walk is not None and walk is not self.root:
            walk.lock_ref -= 1
            if walk.lock_ref == 0:
                self.evictable += walk.tokens
            walk = walk.parent

    def _leaves(self) -> list[_Node]:
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            elif node is not self.root and node.lock_ref == 0:
                out.append(node)
        return out

    def evict(self, n: int) -> int:
        """SGLang's ``RadixCache.evict``: a heap of unlocked leaves by last access; a parent
        left childless and unlocked joins the heap."""
        heap = [(leaf.last_access, id(leaf), leaf) for leaf in self._leaves()]
        heapq.heapify(heap)
        freed = 0
        while freed < n and heap:
            _, _, leaf = heapq.heappop(heap)
            parent = leaf.parent
            assert parent is not None
            del parent.children[leaf.key[:_W]]
            freed += leaf.tokens
            if not parent.children and parent is not self.root and parent.lock_ref == 0:
                heapq.heappush(heap, (parent.last_access, id(parent), parent))
        self.size -= freed
        self.evictable -= freed
        return freed


# --- vLLM: hashed full blocks ---------------------------------------------------------------------
class _Block:
    __slots__ = ("depth", "last_free", "ref")

    def __init__(self, depth: int, stamp: int):
        self.depth = depth
        self.ref = 0
        self.last_free = stamp


class BlockHashCache(PrefixCache):
    """vLLM's prefix caching over full ``block_size``-token blocks keyed by chained hashes."""

    def __init__(self, block_size: int):
        super().__init__()
        if block_size < 1:
            raise ValueError("block_size must be >= 1")
        self.block_size = block_size
        self.blocks: dict[int, _Block] = {}

    def key(self, tokens: Sequence[int]) -> tuple[int, ...]:
        """The chained hash of every full block (vLLM's ``request.block_hashes``)."""
        bs, parent, hashes = self.block_size, 0, []
        for start in range(0, len(tokens) - bs + 1, bs):
            parent = hash((parent, tuple(tokens[start:start + bs])))
            hashes.append(parent)
        return tuple(hashes)

    def cacheable(self, n: int) -> int:
        return n // self.block_size * self.block_size

    def match(self, key: tuple[int, ...], limit: int) -> int:
        hit = 0
        for h in key[:limit // self.block_size]:
            if h not in self.blocks:
                break
            hit += 1
        return hit * self.block_size

    def insert(self, key: tuple[int, ...], n: int) -> int:
        added, stamp = 0, self._tick()
        for depth, h in enumerate(key[:n // self.block_size]):
            if h not in self.blocks:
                self.blocks[h] = _Block(depth, stamp)
                added += self.block_size
        self.size += added
        self.evictable += added
        return added

    def lock(self, key: tuple[int, ...], n: int) -> tuple[int, ...]:
        held = key[:n // self.block_size]
        for h in held:
            block = self.blocks[h]
            if block.ref == 0:
                self.evictable -= self.block_size
            block.ref += 1
        return held

    def unlock(self, handle: tuple[int, ...]) -> None:
        stamp = self._tick()
        for h in handle:
            block = self.blocks[h]
            block.ref -= 1
            if block.ref == 0:
                self.evictable += self.block_size
                block.last_free = stamp

    def evict(self, n: int) -> int:
        """The free queue's order: least recently freed first, a request's tail blocks first."""
        free = [(b.last_free, -b.depth, h) for h, b in self.blocks.items() if b.ref == 0]
        heapq.heapify(free)
        freed = 0
        while freed < n and free:
            _, _, h = heapq.heappop(free)
            del self.blocks[h]
            freed += self.block_size
        self.size -= freed
        self.evictable -= freed
        return freed


PREFIX_CACHES = ("radix", "block_hash")


def make_prefix_cache(kind: str, block_size: int) -> PrefixCache:
    """The cache an engine keeps: ``radix`` (SGLang) or ``block_hash`` (vLLM)."""
    if kind == "radix":
        return RadixCache()
    if kind == "block_hash":
        return BlockHashCache(block_size)
    raise ValueError(f"prefix cache must be one of {', '.join(PREFIX_CACHES)}, not {kind!r}")


def prefix_cache_for(args: SimServerArgs) -> PrefixCache | None:
    """The (empty) prefix cache an engine started with ``args`` keeps; None with the cache off."""
    return None if args.disable_radix_cache else make_prefix_cache(args.prefix_cache or "radix", int(args.block_size or 1))


__all__ = ["PREFIX_CACHES", "BlockHashCache", "PrefixCache", "RadixCache", "make_prefix_cache", "prefix_cache_for"]
