"""parley_local.frame_limit reads RFC 6455 frame headers from the socket's bytes however they are chunked."""

from __future__ import annotations

import os
import struct

from parley_local.frame_limit import MAX_FRAME_BYTES, FrameLimit


def frame(payload: bytes, *, opcode: int = 0x1, fin: bool = True) -> bytes:
    """A client frame (masked), with the 7-bit, 16-bit or 64-bit length form its size needs."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Parser:
    def __init__(self) -> None:
        self.fed = bytearray()

    def feed_data(self, data: bytes):
        self.fed += data
        return False, b""


class Reader:
    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def set_exception(self, exc: Exception) -> None:
        self.errors.append(exc)


def run(chunks: list[bytes]) -> tuple[Parser, Reader, list]:
    parser, reader = Parser(), Reader()
    guard = FrameLimit(parser, reader)
    answers = [guard.feed_data(chunk) for chunk in chunks]
    return parser, reader, answers


def test_frames_within_the_limit_pass_untouched_even_one_byte_at_a_time():
    stream = frame(b"x" * 10) + frame(b"y" * 300) + frame(b"z" * MAX_FRAME_BYTES, fin=False) + frame(b"", opcode=0x0)
    parser, reader, _ = run([stream[i : i + 1] for i in range(len(stream))])
    assert bytes(parser.fed) == stream and reader.errors == []


def test_a_frame_over_the_limit_fails_the_reader_with_1009_after_the_frames_before_it():
    small, big = frame(b"hello"), frame(b"x" * (MAX_FRAME_BYTES + 1))
    parser, reader, answers = run([small + big[:100], big[100:], frame(b"after")])
    assert bytes(parser.fed) == small  # the earlier message still reaches its handler
    (error,) = reader.errors
    assert error.code == 1009
    assert answers[0] == (True, b"") and answers[1:] == [(True, b""), (True, b"")]  # nothing more is read


def test_the_header_of_a_big_frame_may_arrive_split_across_chunks():
    small, big = frame(b"a" * 200), frame(b"b" * 70_000)  # 64-bit length form
    stream = small + big
    cut = len(small) + 3  # inside the big frame's header
    parser, reader, _ = run([stream[:cut], stream[cut:]])
    assert bytes(parser.fed) == stream[:cut] and [e.code for e in reader.errors] == [1009]
