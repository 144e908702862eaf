"""Issue 12, F1: the sans-IO decoder both transports share — bytes in, bytes out, no server.
Splits at every byte, multi-member gzip, trailing garbage, raw deflate, limits."""

from __future__ import annotations

import pytest

from sarvanom_sdk.errors import BadResponseError, ResponseTooLarge
from sarvanom_sdk.transports.decoding import BodyDecoder

from .compressing_server import REPLY, encode


def decode(coding: str, body: bytes, max_bytes: int = 1 << 20, step: int = 0) -> bytes:
    decoder = BodyDecoder({"content-encoding": coding}, max_bytes)
    pieces = [body] if not step else [body[i:i + step] for i in range(0, len(body), step)]
    return b"".join(decoder.feed(p) for p in pieces) + decoder.finish()


@pytest.mark.parametrize("coding", ["gzip", "gzip2", "deflate", "rawdeflate", "identity"])
@pytest.mark.parametrize("step", [0, 1, 3])
def test_decodes_whatever_the_reads_split(coding, step):
    name, body = encode(coding, REPLY)
    assert decode(name, body, step=step) == REPLY


def test_x_gzip_and_identity_lists_are_understood():
    _, body = encode("gzip", REPLY)
    assert decode("x-gzip", body) == REPLY
    assert decode("identity, gzip", body) == REPLY


def test_trailing_garbage_after_a_gzip_member_is_ignored():
    _, body = encode("gzip", REPLY)
    assert decode("gzip", body + b"\0" * 10) == REPLY


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_bytes_that_are_not_the_coding_are_a_bad_response(coding):
    with pytest.raises(BadResponseError, match=f"not valid {coding}"):
        decode(coding, b"this is plain text, not compressed at all")


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip"])
def test_other_or_stacked_codings_are_refused(coding):
    with pytest.raises(BadResponseError, match="unsupported Content-Encoding"):
        BodyDecoder({"content-encoding": coding}, 100)


def test_f1_declared_length_past_the_limit_is_refused_before_reading():
    with pytest.raises(ResponseTooLarge, match="101 bytes"):
        BodyDecoder({"content-length": "101"}, 100)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "identity"])
def test_f1_decoded_size_past_the_limit_is_too_large(coding):
    name, body = encode(coding, b"a" * 5000)
    assert decode(name, body, max_bytes=5000) == b"a" * 5000
    with pytest.raises(ResponseTooLarge):
        decode(name, body, max_bytes=4999)


def test_f1_one_small_read_never_inflates_past_the_limit():
    """A 10 MiB bomb in a single read: refused after producing at most limit + one slice."""
    name, body = encode("gzip", bytes(10 << 20))
    decoder = BodyDecoder({"content-encoding": name}, 1 << 20)
    with pytest.raises(ResponseTooLarge):
        decoder.feed(body)
    assert decoder._decoded <= (1 << 20) + 65536
