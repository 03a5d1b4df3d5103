"""The short_message bodies of a split message: UDH layout, SAR triples, sizes, and agreement with num_segments."""

from __future__ import annotations

import random

import pytest
from smpplib import consts, gsm

from mycpaas.domain.segments import GSM7_EXTENSION, count_segments
from mycpaas.smpp.concatenation import Part, split
from mycpaas.smpp.encoding import GSM7_EXTENSION_TABLE, GSM7_TABLE, DataCoding, choose, decode, encode

GSM_CHARS = [ch for ch in GSM7_TABLE if ch != "\x1b"] + list(GSM7_EXTENSION_TABLE.values())
WIDE = ["ж", "中", "é", "😀", "🇫🇷", "a", "€", "{"]


def body(part: Part) -> bytes:
    return part.short_message[6:] if part.esm_class_udhi else part.short_message


def rejoin(parts: list[Part], coding: DataCoding) -> str:
    return "".join(decode(body(p), coding) for p in parts)


def test_single_part_has_no_header() -> None:
    [part] = split("a" * 160, DataCoding.SMSC_DEFAULT, 7, "udh")
    assert part == Part(b"a" * 160, False, None)
    [part] = split("", DataCoding.SMSC_DEFAULT, 7, "sar")
    assert part == Part(b"", False, None)
    [part] = split("ж" * 70, DataCoding.UCS2, 7, "udh")
    assert len(part.short_message) == 140 and not part.esm_class_udhi


def test_udh_layout_matches_smpplib() -> None:
    text = "a" * 306
    parts = split(text, DataCoding.SMSC_DEFAULT, 0x1A7, "udh")
    theirs, _, esm_class = gsm.make_parts(text, consts.SMPP_ENCODING_DEFAULT)
    assert esm_class == consts.SMPP_GSMFEAT_UDHI
    assert len(parts) == len(theirs) == 2
    for seq, (ours, their) in enumerate(zip(parts, theirs, strict=True), start=1):
        assert ours.esm_class_udhi and ours.sar is None
        assert ours.short_message[:6] == bytes((5, 0, 3, 0xA7, 2, seq))
        assert (
            ours.short_message[:3] == their[:3] and ours.short_message[4:] == their[4:]
        )  # their ref is random
    assert rejoin(parts, DataCoding.SMSC_DEFAULT) == text


def test_sar_gives_the_triple_and_bare_bodies() -> None:
    text = "b" * 400
    parts = split(text, DataCoding.SMSC_DEFAULT, 0x1234, "sar")
    assert [p.sar for p in parts] == [(0x34, 3, 1), (0x34, 3, 2), (0x34, 3, 3)]
    assert not any(p.esm_class_udhi for p in parts)
    assert [len(p.short_message) for p in parts] == [153, 153, 94]
    assert rejoin(parts, DataCoding.SMSC_DEFAULT) == text


def test_escape_pair_is_never_split() -> None:
    [whole] = split("a" * 152 + "€", DataCoding.SMSC_DEFAULT, 1, "udh")  # 154 septets still fit one message
    assert whole.short_message == b"a" * 152 + b"\x1b\x65" and not whole.esm_class_udhi
    parts = split(
        "a" * 152 + "€" + "b" * 10, DataCoding.SMSC_DEFAULT, 1, "udh"
    )  # the pair would straddle 153
    assert [body(p) for p in parts] == [b"a" * 152, b"\x1b\x65" + b"b" * 10]
    parts = split("{" * 100 + "a" * 100, DataCoding.SMSC_DEFAULT, 1, "udh")
    assert [len(body(p)) for p in parts] == [152, 148]
    assert all(not body(p).endswith(b"\x1b") for p in parts)
    assert rejoin(parts, DataCoding.SMSC_DEFAULT) == "{" * 100 + "a" * 100


def test_surrogate_pair_is_never_split() -> None:
    [whole] = split("a" * 66 + "😀", DataCoding.UCS2, 1, "udh")  # 68 code units still fit one message
    assert len(whole.short_message) == 136 and not whole.esm_class_udhi
    parts = split("a" * 66 + "😀" + "b" * 5, DataCoding.UCS2, 1, "udh")  # 73 units: 66 | 2 + 5
    assert [decode(body(p), DataCoding.UCS2) for p in parts] == ["a" * 66, "😀bbbbb"]
    assert len(body(parts[0])) == 132


def test_ucs2_and_latin1_part_sizes() -> None:
    parts = split("ж" * 71, DataCoding.UCS2, 9, "udh")
    assert [len(p.short_message) for p in parts] == [6 + 134, 6 + 8]
    [single] = split("é" * 140, DataCoding.LATIN1, 9, "udh")
    assert single.short_message == b"\xe9" * 140
    parts = split("é" * 141, DataCoding.LATIN1, 9, "udh")
    assert [len(p.short_message) for p in parts] == [6 + 134, 6 + 7]
    parts = split("é" * 300, DataCoding.LATIN1, 9, "sar")
    assert [len(p.short_message) for p in parts] == [134, 134, 32]
    assert rejoin(parts, DataCoding.LATIN1) == "é" * 300


def test_gsm_part_is_at_most_153_septets_plus_header() -> None:
    parts = split("a" * 1000, DataCoding.SMSC_DEFAULT, 3, "udh")
    assert all(len(p.short_message) <= 6 + 153 for p in parts)
    assert len(parts) == count_segments("a" * 1000) == 7


def test_refuses_text_the_coding_cannot_carry_and_too_many_parts() -> None:
    with pytest.raises(ValueError):
        split("façade", DataCoding.SMSC_DEFAULT, 1, "udh")
    with pytest.raises(ValueError):
        split("hi", DataCoding.BINARY, 1, "udh")
    with pytest.raises(ValueError):
        split("a" * (153 * 255 + 1), DataCoding.SMSC_DEFAULT, 1, "udh")
    assert len(split("a" * (153 * 255), DataCoding.SMSC_DEFAULT, 1, "udh")) == 255


def _random_text(rng: random.Random, alphabet: list[str]) -> str:
    n = rng.choice(
        [rng.randrange(1, 400), rng.randrange(150, 165), rng.randrange(300, 310), rng.randrange(60, 75)]
    )
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize("seed", range(4))
def test_part_count_equals_num_segments(seed: int) -> None:
    rng = random.Random(seed)
    gsm_heavy = GSM_CHARS + list(GSM7_EXTENSION) * 8
    for _ in range(300):
        for text in (_random_text(rng, gsm_heavy), _random_text(rng, gsm_heavy + WIDE)):
            coding = choose(text, "gsm7")
            for mode in ("udh", "sar"):
                parts = split(text, coding, rng.randrange(65536), mode)
                assert len(parts) == count_segments(text)
                assert rejoin(parts, coding) == text
                limit = 153 if coding is DataCoding.SMSC_DEFAULT else 134
                if len(parts) > 1:
                    assert all(len(body(p)) <= limit for p in parts)
                if coding is DataCoding.SMSC_DEFAULT:
                    assert all(not body(p).endswith(b"\x1b") for p in parts)


@pytest.mark.parametrize("ext", sorted(GSM7_EXTENSION))
@pytest.mark.parametrize("prefix", [151, 152, 153, 158, 159, 160])
def test_extension_character_at_the_boundaries(ext: str, prefix: int) -> None:
    text = "x" * prefix + ext + "yyy"
    parts = split(text, DataCoding.SMSC_DEFAULT, 5, "udh")
    assert len(parts) == count_segments(text)
    assert rejoin(parts, DataCoding.SMSC_DEFAULT) == text
    assert encode(text, DataCoding.SMSC_DEFAULT).count(b"\x1b") == 1
    assert all(not body(p).endswith(b"\x1b") for p in parts)


@pytest.mark.parametrize("prefix", [64, 65, 66, 67, 68, 69, 132, 133, 134])
def test_emoji_at_the_boundaries(prefix: int) -> None:
    text = "ж" * prefix + "😀" + "ж" * 3
    parts = split(text, DataCoding.UCS2, 5, "udh")
    assert len(parts) == count_segments(text)
    for p in parts:
        decoded = decode(body(p), DataCoding.UCS2)
        assert "\ufffd" not in decoded and len(body(p)) % 2 == 0
    assert rejoin(parts, DataCoding.UCS2) == text
