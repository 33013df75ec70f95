"""The heartbeat wire format: sign, verify, decode, and every way a datagram is dropped."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
import zlib

import pytest

from ostium.model.errors import InvalidHeartbeat
from ostium.model.heartbeat import (
    MAGIC,
    MAX_DATAGRAM,
    MAX_JSON,
    DropReason,
    HaproxyState,
    Heartbeat,
    ListenerReport,
    PoolReport,
    decode,
    encode,
    from_dict,
)

KEY = b"test-key"


def _id() -> str:
    return str(uuid.uuid4())


def sample(**kw: object) -> Heartbeat:
    lid, pid, m1, m2 = _id(), _id(), _id(), _id()
    data: dict[str, object] = dict(
        amphora_id=_id(),
        seq=7,
        timestamp=1_700_000_000.5,
        generation=3,
        agent_version="0.1.0",
        haproxy=HaproxyState.RUNNING,
        listeners={lid: ListenerReport("OPEN", 2, 10, 1000, 5000, 1)},
        pools={pid: PoolReport("UP", {m1: "UP", m2: "DOWN 1/2"})},
    )
    data.update(kw)
    return Heartbeat(**data)  # type: ignore[arg-type]


def _reason(datagram: bytes, key: bytes = KEY) -> str:
    with pytest.raises(InvalidHeartbeat) as info:
        decode(datagram, key)
    return info.value.reason


def _sign(body: bytes, key: bytes = KEY) -> bytes:
    return body + hmac.new(key, body, hashlib.sha256).digest()


def test_round_trip() -> None:
    hb = sample()
    assert decode(encode(hb, KEY), KEY) == hb


def test_no_config_heartbeat_round_trips() -> None:
    hb = sample(generation=None, haproxy=HaproxyState.NO_CONFIG, listeners={}, pools={})
    assert decode(encode(hb, KEY), KEY) == hb


def test_wrong_key_is_a_bad_signature() -> None:
    assert _reason(encode(sample(), KEY), b"other") == DropReason.BAD_SIGNATURE


def test_flipped_bit_is_a_bad_signature() -> None:
    data = bytearray(encode(sample(), KEY))
    data[10] ^= 1
    assert _reason(bytes(data)) == DropReason.BAD_SIGNATURE


@pytest.mark.parametrize("cut", [1, 31, 32, 40])
def test_truncated_is_dropped(cut: int) -> None:
    data = encode(sample(), KEY)
    assert _reason(data[:-cut]) in (DropReason.BAD_SIGNATURE, DropReason.UNSIGNED)


def test_unsigned_compressed_json_is_unsigned() -> None:
    doc = json.dumps(sample().to_dict()).encode()
    assert _reason(MAGIC + zlib.compress(doc)) == DropReason.UNSIGNED
    assert _reason(zlib.compress(doc)) == DropReason.UNSIGNED


@pytest.mark.parametrize("junk", [b"", b"x", b"\x00" * 10, b"OHB1", b"A" * 200])
def test_junk_never_raises_anything_else(junk: bytes) -> None:
    assert _reason(junk) in (DropReason.BAD_SIGNATURE, DropReason.UNSIGNED)


def test_oversized_datagram() -> None:
    assert _reason(b"\x00" * (MAX_DATAGRAM + 1)) == DropReason.OVERSIZED


def test_zlib_bomb_is_oversized_even_when_signed() -> None:
    bomb = MAGIC + zlib.compress(b" " * (MAX_JSON + 10), 9)
    assert len(bomb) < MAX_DATAGRAM
    assert _reason(_sign(bomb)) == DropReason.OVERSIZED


def test_encode_refuses_a_heartbeat_too_large_to_send() -> None:
    members = {_id(): "UP" for _ in range(4000)}
    hb = sample(pools={_id(): PoolReport("UP", members)})
    with pytest.raises(InvalidHeartbeat) as info:
        encode(hb, KEY)
    assert info.value.reason == DropReason.OVERSIZED


def test_signed_garbage_is_malformed() -> None:
    assert _reason(_sign(MAGIC + b"not zlib")) == DropReason.MALFORMED
    assert _reason(_sign(MAGIC + zlib.compress(b"{not json"))) == DropReason.MALFORMED
    assert _reason(_sign(b"XXXX" + zlib.compress(b"{}"))) == DropReason.MALFORMED


def _doc(**changes: object) -> dict[str, object]:
    doc = sample().to_dict()
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "not-a-uuid"},
        {"id": None},
        {"seq": -1},
        {"seq": True},
        {"seq": "1"},
        {"seq": 2**64},
        {"ts": "now"},
        {"ts": float("nan")},
        {"ts": True},
        {"generation": -1},
        {"generation": 1.5},
        {"agent_version": "x\ny"},
        {"haproxy": "HAPPY"},
        {"listeners": []},
        {"pools": {"p": {}}},
        {"listeners": {str(uuid.uuid4()): {"status": "OPEN", "bytes_in": -5}}},
        {"listeners": {str(uuid.uuid4()): {"status": "OPEN\nbind"}}},
        {"pools": {str(uuid.uuid4()): {"status": "UP", "members": {"m": "UP"}}}},
        {"pools": {str(uuid.uuid4()): {"status": "UP", "members": {str(uuid.uuid4()): 3}}}},
    ],
)
def test_wrong_types_are_malformed(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidHeartbeat) as info:
        from_dict(_doc(**changes))
    assert info.value.reason == DropReason.MALFORMED
    body = MAGIC + zlib.compress(json.dumps(_doc(**changes)).encode())
    assert _reason(_sign(body)) == DropReason.MALFORMED


def test_top_level_not_an_object() -> None:
    assert _reason(_sign(MAGIC + zlib.compress(b"[1, 2]"))) == DropReason.MALFORMED
