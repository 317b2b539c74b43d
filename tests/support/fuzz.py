"""Seeded fuzz inputs for the parsers of network data: random values, boundary values, and
mutations of a valid sample.

A fixed seed per test makes every run draw the same examples (a failure reproduces as is) and
a fixed count keeps CI time small; hypothesis would add shrinking, but also a dependency and
a database, for parsers whose inputs are small enough to read when one fails.
"""

from __future__ import annotations

import random
from typing import Any

#: Texts that broke or nearly broke parsers before: huge numbers (`int()` refuses more than
#: 4,300 digits), signs, exponents, non-ASCII digits, NUL, quotes and separators, escape
#: sequences, bidi and zero-width characters, wide characters, a field over csv's 128 KiB.
BOUNDARY_TEXT: tuple[str, ...] = (
    "", " ", "0", "-1", "1e309", "NaN", "Infinity", "18446744073709551616", "9" * 5000,
    "٣", "²", "\x00", '"', ",", ";", "\r\n", "\x1b[2J\x1b]0;pwned\x07", "\u202eNWOD 表示\u202c",
    "a\u200d\u200b\u2066b\u2069", "e" + "\u0301" * 200, "表示" * 60, "\ufeff#", "%s%n{0}",
    "x" * 70_000, "y" * 140_000,
)
#: Integers at the edges of the fields the parsers read (u8, u16, u32, u64) and past them.
BOUNDARY_INTS: tuple[int, ...] = (0, 1, -1, 0x7F, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF,
                                  2**63 - 1, 2**64, -(2**63), 10**5000)


class Fuzzer:
    """Draws examples from a seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def text(self) -> str:
        """A boundary text, random printable text, or random code points."""
        pick = self.rng.random()
        if pick < 0.4:
            return self.rng.choice(BOUNDARY_TEXT)
        if pick < 0.7:
            return "".join(self.rng.choice("abcXYZ019 ,.:;/-_\"'#") for _ in
                           range(self.rng.randint(0, 40)))
        return "".join(chr(self.rng.choice((self.rng.randint(0, 0x2FF),
                                            self.rng.randint(0x2000, 0x206F),
                                            self.rng.randint(0x3000, 0xFFFD),
                                            self.rng.randint(0x10000, 0x10FFFF))))
                       for _ in range(self.rng.randint(0, 30))).encode(
                           "utf-8", "replace").decode("utf-8", "replace")

    def data(self, size: int = 64) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, size))

    def mutate(self, sample: bytes, keep: int = 0) -> bytes:
        """`sample` with 1-4 random edits (bit flips, boundary bytes and words, insertions,
        deletions, duplications, truncation); its first `keep` bytes stay as they are."""
        data = bytearray(sample)
        for _ in range(self.rng.randint(1, 4)):
            if len(data) <= keep:
                data += self.data(8)
                continue
            at = self.rng.randrange(keep, len(data))
            op = self.rng.randrange(7)
            if op == 0:
                data[at] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                data[at] = self.rng.choice((0, 0x7F, 0x80, 0xFF))
            elif op == 2:
                width = self.rng.choice((2, 4))
                value = self.rng.choice((0, 0xFFFF, 0xFFFFFFFF, 0x7FFF, 1)) & ((1 << 8 * width) - 1)
                data[at:at + width] = value.to_bytes(width, "little")
            elif op == 3:
                data[at:at] = self.data(16)
            elif op == 4:
                del data[at:at + self.rng.randint(1, 16)]
            elif op == 5:
                end = min(len(data), at + self.rng.randint(1, 32))
                data[at:at] = data[at:end] * self.rng.randint(1, 8)
            else:
                del data[at:]
        return bytes(data)

    def json_value(self, depth: int = 0) -> Any:
        """A random JSON value: scalars at the boundaries, lists and objects a few levels
        deep with random or boundary keys."""
        kinds = ["null", "bool", "int", "float", "text"]
        if depth < 3:
            kinds += ["list", "object"]
        kind = self.rng.choice(kinds)
        if kind == "null":
            return None
        if kind == "bool":
            return self.chance(0.5)
        if kind == "int":
            return self.rng.choice((*BOUNDARY_INTS[:-1], self.rng.randint(-1000, 100000)))
        if kind == "float":
            return self.rng.choice((0.5, -0.0, 1e308, float("nan"), float("inf"), 100.0001))
        if kind == "text":
            return self.text()[:300]
        if kind == "list":
            return [self.json_value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.text()[:50]: self.json_value(depth + 1)
                for _ in range(self.rng.randint(0, 4))}
