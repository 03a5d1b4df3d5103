"""Golden cases for SMS segmentation (GSM 03.38 septets, UCS-2 code units) and the carrier part split.

The cross-check cases at the bottom are the ones in TwilioDevEd/message-segment-calculator's own test suite
(tests/index.test.js and tests/segments.test.js), rebuilt here from their description.
"""

from __future__ import annotations

import random

import pytest

from mycpaas.domain.segments import Encoding, count_segments, split_parts

# An independent statement of the rules, so the checks below do not lean on segments.py's own tables.
# GSM 03.38 basic character set (0x1B, the escape, excluded) and the extension table reached through it.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
NOT_GSM = ["ç", "á", "`", "\t", "ж", "中", "’", "“"]  # ç: only capital Ç is GSM; curly quotes are not either


def septets(text: str) -> int:
    return sum(2 if ch in GSM_EXTENSION else 1 for ch in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_reference_alphabet_has_the_sizes_of_gsm_03_38() -> None:
    assert len(GSM_BASIC) == len(set(GSM_BASIC)) == 127
    assert len(GSM_EXTENSION) == 10


# ---- GSM-7 lengths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (305, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1600, 11)],
)
def test_gsm7_segment_count(length: int, segments: int) -> None:
    text = "a" * length
    result = split_parts(text)
    assert result.encoding is Encoding.GSM7
    assert result.count == segments
    assert count_segments(text) == segments


def test_empty_body_counts_as_one_segment() -> None:
    assert count_segments("") == 1


def test_every_basic_gsm_character_keeps_gsm7_at_one_septet() -> None:
    text = (GSM_BASIC * 2)[:160]
    result = split_parts(text)
    assert result.encoding is Encoding.GSM7
    assert result.count == 1
    assert count_segments(text + "a") == 2


@pytest.mark.parametrize("ext", list(GSM_EXTENSION))
def test_extension_character_costs_two_septets(ext: str) -> None:
    fits = "x" * 158 + ext  # 160 septets
    spills = "x" * 159 + ext  # 161 septets
    assert split_parts(fits).encoding is Encoding.GSM7
    assert count_segments(fits) == 1
    assert count_segments(spills) == 2


def test_only_extension_characters() -> None:
    assert count_segments("€" * 80) == 1  # 160 septets
    result = split_parts("€" * 81)  # 162 septets: 76 pairs (152 septets) fill a 153-septet part
    assert [len(p) for p in result.parts] == [76, 5]


def test_152_basic_plus_euro_alone_still_fits_one_segment() -> None:
    # 154 septets <= 160: the message is not concatenated at all, so there is nothing to split.
    assert split_parts("a" * 152 + "€").parts == ("a" * 152 + "€",)


@pytest.mark.parametrize("ext", list(GSM_EXTENSION))
def test_escape_pair_is_never_split_across_parts(ext: str) -> None:
    # Part 1 holds 153 septets; after 152 basic characters one septet is left, too little for ESC + char.
    text = "a" * 152 + ext + "b" * 10
    result = split_parts(text)
    assert result.encoding is Encoding.GSM7
    assert result.parts == ("a" * 152, ext + "b" * 10)


def test_escape_pair_that_exactly_fills_a_part_stays_in_it() -> None:
    text = "a" * 151 + "€" + "b" * 10  # 151 + 2 = 153 septets: the pair ends part 1
    assert split_parts(text).parts == ("a" * 151 + "€", "b" * 10)


# ---- UCS-2 lengths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_segment_count(length: int, segments: int) -> None:
    text = "ж" * length
    result = split_parts(text)
    assert result.encoding is Encoding.UCS2
    assert result.count == segments
    assert count_segments(text) == segments


@pytest.mark.parametrize("char", NOT_GSM)
def test_one_non_gsm_character_makes_the_whole_message_ucs2(char: str) -> None:
    text = "a" * 100 + char  # 101 characters: one GSM-7 segment, but two UCS-2 segments
    assert count_segments("a" * 101) == 1
    result = split_parts(text)
    assert result.encoding is Encoding.UCS2
    assert result.count == 2
    assert result.parts == ("a" * 67, "a" * 33 + char)


def test_extension_characters_cost_one_unit_in_ucs2() -> None:
    text = "€" * 69 + "ж"
    result = split_parts(text)
    assert result.encoding is Encoding.UCS2
    assert result.count == 1


def test_emoji_is_two_code_units() -> None:
    assert count_segments("😀" * 35) == 1  # 70 units
    result = split_parts("😀" * 36)  # 72 units: 33 emoji (66 units) fill a 67-unit part
    assert result.encoding is Encoding.UCS2
    assert [len(p) for p in result.parts] == [33, 3]


def test_66_letters_plus_emoji_alone_still_fits_one_segment() -> None:
    assert split_parts("a" * 66 + "😀").parts == ("a" * 66 + "😀",)  # 68 units <= 70


def test_surrogate_pair_is_never_split_across_parts() -> None:
    # After 66 units one unit of the 67 is left, too little for the two halves of the emoji.
    text = "a" * 66 + "😀" + "b" * 3
    result = split_parts(text)
    assert result.encoding is Encoding.UCS2
    assert result.parts == ("a" * 66, "😀bbb")
    for part in result.parts:
        part.encode("utf-16-le").decode("utf-16-le")  # each part is valid UTF-16 on its own


# ---- properties over many messages ----------------------------------------------------------------------

_ALPHABETS = {
    "gsm": GSM_BASIC,
    "gsm+ext": GSM_BASIC + GSM_EXTENSION * 4,
    "ucs2": GSM_BASIC + GSM_EXTENSION + "жщ中😀🎉👍",
}


def _messages() -> list[str]:
    rng = random.Random(20100401)
    out = []
    for alphabet in _ALPHABETS.values():
        for length in [0, 1, 67, 68, 69, 70, 71, 152, 153, 154, 159, 160, 161, 306, 307, 800, 1600]:
            for _ in range(4):
                out.append("".join(rng.choice(alphabet) for _ in range(length)))
    return out


def test_parts_rejoin_to_the_input_and_respect_the_part_sizes() -> None:
    for text in _messages():
        result = split_parts(text)
        assert "".join(result.parts) == text
        gsm = all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)
        assert result.encoding is (Encoding.GSM7 if gsm else Encoding.UCS2)
        cost = septets if gsm else ucs2_units
        single, per_part = (160, 153) if gsm else (70, 67)
        if cost(text) <= single:
            assert result.parts == (text,)
            continue
        assert all(part for part in result.parts)
        assert all(cost(part) <= per_part for part in result.parts)
        # Greedy, like the carriers and the calculator: a part ends only when the next character won't fit.
        for part, following in zip(result.parts, result.parts[1:], strict=False):
            assert cost(part) + cost(following[0]) > per_part
        assert count_segments(text) == result.count


# ---- cross-check with TwilioDevEd/message-segment-calculator's test cases ---------------------------------

DIGITS = "1234567890" * 40


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "message_bits"),
    [
        # 'GSM-7 with escape characters in one segment': '{' + 158 digits = 160 septets = 1120 bits
        ("{" + DIGITS[1:159], Encoding.GSM7, 1, 1120),
        # 'GSM-7 with escape characters in two segments': 161 septets = 1127 bits
        ("{" + DIGITS[1:160], Encoding.GSM7, 2, 1127),
        # 'UCS-2 message in one segment': emoji + 68 digits = 70 units = 1120 bits
        ("😜" + DIGITS[1:69], Encoding.UCS2, 1, 1120),
        # 'UCS-2 message in two segments': 71 units = 1136 bits
        ("😜" + DIGITS[1:70], Encoding.UCS2, 2, 1136),
    ],
)
def test_matches_calculator_basic_cases(
    body: str, encoding: Encoding, segments: int, message_bits: int
) -> None:
    result = split_parts(body)
    assert result.encoding is encoding
    assert result.count == segments
    bits = septets(body) * 7 if encoding is Encoding.GSM7 else ucs2_units(body) * 16
    assert bits == message_bits


def test_matches_calculator_gsm7_three_segments_with_one_character_in_the_last() -> None:
    result = split_parts(DIGITS[:307])
    assert result.count == 3
    assert result.parts[-1] == "7"


def test_matches_calculator_ucs2_three_segments_with_one_character_in_the_last() -> None:
    result = split_parts("😜" + DIGITS[1:134])
    assert result.encoding is Encoding.UCS2
    assert result.count == 3
    assert result.parts[-1] == "4"
