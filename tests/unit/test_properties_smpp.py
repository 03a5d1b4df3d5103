"""Properties of the SMPP layer, over generated inputs: the PDU codec round-trips and rejects garbage only with
PduError; GSM 03.38 and UCS-2 round-trip; the API's segment count and the parts on the wire agree, each part
fits and the parts re-join to the text; receipt text of any shape parses."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from mycpaas.domain.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_PART,
    GSM7_SINGLE,
    UCS2_PART,
    UCS2_SINGLE,
    Encoding,
    _units,
    count_segments,
    split_parts,
    split_units,
)
from mycpaas.smpp import pdu
from mycpaas.smpp.concatenation import Part, split
from mycpaas.smpp.encoding import GSM7_EXTENSION_TABLE, GSM7_TABLE, DataCoding, choose, decode, encode
from mycpaas.smpp.receipts import message_id_forms, normalize_message_id, parse_receipt

GSM_CHARS = sorted(GSM7_BASIC | GSM7_EXTENSION)
gsm_text = st.text(st.sampled_from(GSM_CHARS), max_size=700)
# Any text a UTF-8 request can carry (no lone surrogates), weighted towards astral characters (surrogate pairs).
unicode_text = st.text(
    st.one_of(st.characters(exclude_categories=("Cs",)), st.characters(min_codepoint=0x10000)), max_size=400
)
latin1_text = st.text(st.characters(max_codepoint=0xFF, exclude_characters="\x00"))


def _field_value(kind: str, size: int) -> st.SearchStrategy[pdu.Value]:
    if kind == "1":
        return st.integers(0, 255)
    if kind == "c":
        return st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=size - 1)
    return st.binary(max_size=size)


@st.composite
def pdus(draw: st.DrawFn) -> pdu.Pdu:
    command = draw(st.sampled_from(sorted(set(pdu.SCHEMAS) | set(pdu._NO_BODY))))
    fields = {name: draw(_field_value(kind, size)) for name, kind, size in pdu.SCHEMAS.get(command, ())}
    tlvs = draw(st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=4))
    status, sequence = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    return pdu.Pdu(command, sequence, status, fields, tlvs)


@given(pdus())
def test_pdu_encode_decode_round_trip(original: pdu.Pdu) -> None:
    decoded = pdu.decode(original.encode())
    assert decoded == original


@st.composite
def pdu_like_bytes(draw: st.DrawFn) -> bytes:
    """Mostly a well-formed header (so the body parser is reached) over arbitrary, truncated or corrupted bodies."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=80))
    body = draw(st.one_of(st.binary(max_size=200), pdus().map(lambda p: p.encode()[16:])))
    cut = draw(st.integers(0, len(body)))
    body = body[:cut] if draw(st.booleans()) else body
    command = draw(st.one_of(st.sampled_from(list(pdu.Command)), st.integers(0, 2**32 - 1)))
    length = 16 + len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, -16]))
    return pdu.HEADER.pack(max(0, length), command, 0, 1) + body


@given(pdu_like_bytes())
@example(b"")
@example(b"\x00\x00\x00\x10")
def test_pdu_decode_of_any_bytes_raises_only_pdu_error(data: bytes) -> None:
    try:
        decoded = pdu.decode(data)
    except pdu.PduError:
        return
    assert len(data) >= 16 and isinstance(decoded, pdu.Pdu)


@given(st.binary(min_size=16, max_size=16))
def test_pdu_header_of_any_16_bytes_raises_only_pdu_error(header: bytes) -> None:
    try:
        length, *_ = pdu.decode_header(header)
    except pdu.PduError:
        return
    assert 16 <= length <= pdu.MAX_PDU_LENGTH


def test_segment_alphabet_is_the_codec_alphabet() -> None:
    """domain/segments.py and smpp/encoding.py each state GSM 03.38; they must state the same one."""
    assert set(GSM7_TABLE) - {"\x1b"} == GSM7_BASIC
    assert set(GSM7_EXTENSION_TABLE.values()) == GSM7_EXTENSION


@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    assert choose(text, "gsm7") == DataCoding.SMSC_DEFAULT
    assert decode(encode(text, DataCoding.SMSC_DEFAULT), DataCoding.SMSC_DEFAULT) == text


@given(unicode_text)
def test_ucs2_round_trip(text: str) -> None:
    assert decode(encode(text, DataCoding.UCS2), DataCoding.UCS2) == text


@given(latin1_text)
def test_latin1_round_trip(text: str) -> None:
    assert decode(encode(text, DataCoding.LATIN1), DataCoding.LATIN1) == text


@given(st.binary(max_size=300), st.integers(0, 255))
def test_decode_of_any_bytes_in_any_coding_never_raises(data: bytes, coding: int) -> None:
    assert isinstance(decode(data, coding), str)


def _body(part: Part) -> bytes:
    return part.short_message[6:] if part.esm_class_udhi else part.short_message


def _fits(part: Part, coding: DataCoding, alone: bool) -> bool:
    if coding in (DataCoding.SMSC_DEFAULT, DataCoding.IA5):  # septets, sent unpacked; a packed UDH costs 7
        return len(part.short_message) <= 160 if alone else len(_body(part)) + 7 <= 160
    return len(part.short_message) <= 140


@given(st.one_of(gsm_text, unicode_text, st.text(st.sampled_from(["a", "€", "😀", "\ud800", "\udc00", "ж"]))))
@example("€" * 81)
@example("a" * 66 + "😀" + "b" * 3)
@example("\ud800\udc00" * 40)  # lone surrogates (text decoded from SMPP may hold them): one unit each
def test_split_parts_cuts_where_the_character_walk_does(text: str) -> None:
    """split_parts slices by counting units in C; the per-character walk of split_units is the rule."""
    reported = split_parts(text)
    gsm = reported.encoding is Encoding.GSM7
    assert gsm == all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)
    single, per_part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    assert reported.parts == split_units(text, single, per_part, lambda ch: _units(ch, reported.encoding))


@given(st.one_of(gsm_text, unicode_text), st.sampled_from(["udh", "sar"]), st.integers(0, 2**16))
@example("€" * 77, "udh", 0)  # 154 septets: the 77th escape pair may not be cut
@example("a" * 152 + "€", "udh", 0)
@example("😀" * 34, "udh", 0)  # 68 code units: one surrogate pair over a single part
@example("a" * 66 + "😀", "sar", 0)
def test_parts_on_the_wire_agree_with_the_reported_segments(text: str, mode: str, reference: int) -> None:
    reported = split_parts(text)
    coding = choose(text, "gsm7")
    assert (coding == DataCoding.SMSC_DEFAULT) == (reported.encoding is Encoding.GSM7)
    parts = split(text, coding, reference, mode)  # type: ignore[arg-type]
    assert len(parts) == reported.count == (count_segments(text) if text else 1)
    assert all(_fits(p, coding, alone=len(parts) == 1) for p in parts)
    # Each part decodes on its own to the API's part: no escape or surrogate pair is split between two.
    assert [decode(_body(p), coding) for p in parts] == list(reported.parts)
    assert "".join(reported.parts) == text
    if len(parts) > 1:
        for seq, part in enumerate(parts, start=1):
            header = (part.short_message[:6], None) if mode == "udh" else (b"", part.sar)
            wanted = (bytes((5, 0, 3, reference & 0xFF, len(parts), seq)), None)
            assert header == (wanted if mode == "udh" else (b"", (reference & 0xFF, len(parts), seq)))


@given(latin1_text.filter(lambda t: len(t) < 3000), st.sampled_from(["udh", "sar"]))
def test_latin1_parts_fit_and_rejoin(text: str, mode: str) -> None:
    parts = split(text, DataCoding.LATIN1, 1, mode)  # type: ignore[arg-type]
    assert all(_fits(p, DataCoding.LATIN1, alone=len(parts) == 1) for p in parts)
    assert "".join(decode(_body(p), DataCoding.LATIN1) for p in parts) == text


@given(
    st.one_of(
        st.tuples(gsm_text, st.just(DataCoding.SMSC_DEFAULT)),
        st.tuples(unicode_text, st.just(DataCoding.UCS2)),
        st.tuples(latin1_text.filter(lambda t: len(t) < 3000), st.just(DataCoding.LATIN1)),
        st.tuples(st.text(st.characters(max_codepoint=0x7F), max_size=700), st.just(DataCoding.IA5)),
    )
)
@example(("€" * 77, DataCoding.SMSC_DEFAULT))
@example(("a" * 152 + "€" + "b" * 10, DataCoding.SMSC_DEFAULT))
@example(("\x1b" * 200, DataCoding.IA5))  # an ESC octet of IA5 text is a character of its own
@example(("a" * 66 + "😀" * 3, DataCoding.UCS2))
def test_octet_cuts_are_split_units_cuts(case: tuple[str, DataCoding]) -> None:
    """split cuts the encoded octets; the parts are those of the per-character rule it replaced."""
    text, coding = case
    single, per_part = (160, 153) if coding in (DataCoding.SMSC_DEFAULT, DataCoding.IA5) else (140, 134)
    wanted = split_units(text, single, per_part, lambda ch: len(encode(ch, coding)))
    parts = split(text, coding, 0, "sar")
    assert [decode(_body(p), coding) for p in parts] == list(wanted)
    assert [p.short_message for p in parts] == [encode(chunk, coding) for chunk in wanted]


receipt_words = st.sampled_from(
    [
        "id:",
        "sub:",
        "dlvrd:",
        "submit date:",
        "done_date:",
        "stat:",
        "err:",
        "text:",
        "ID :",
        " ",
        "\x00",
        "0x",
    ]
)
receipt_text = st.lists(st.one_of(receipt_words, st.text(max_size=20)), max_size=20).map("".join)


@given(st.one_of(st.text(), receipt_text))
def test_receipt_text_of_any_shape_parses(text: str) -> None:
    receipt = parse_receipt(text)
    for value in (receipt.message_id, receipt.stat, receipt.err, receipt.text):
        assert value is None or value in text


RECEIPT_KEYS = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]
receipt_values = st.text(st.sampled_from("abcdefXYZ0123456789-_ ."), max_size=12).map(str.strip)


@given(
    st.permutations(RECEIPT_KEYS),
    st.lists(receipt_values, min_size=7, max_size=7),
    st.text(max_size=40),
    st.booleans(),
)
def test_receipt_fields_read_back_in_any_order_and_case(
    keys: list[str], values: list[str], quoted: str, upper: bool
) -> None:
    """Appendix B text with its fields in any order and key case, `text:` last and holding anything."""
    fields = dict(zip(keys, values, strict=True))
    rendered = " ".join(f"{k.upper() if upper else k}:{v}" for k, v in fields.items()) + f" text:{quoted}"
    receipt = parse_receipt(rendered)
    read = (receipt.message_id, receipt.sub, receipt.dlvrd, receipt.submit_date, receipt.done_date)
    assert read == tuple(fields[k] for k in RECEIPT_KEYS[:5])
    assert (receipt.stat, receipt.err, receipt.text) == (fields["stat"], fields["err"], quoted.strip())


@given(st.text())
def test_message_id_forms_of_any_text(raw: str) -> None:
    forms = message_id_forms(raw)
    canonical = normalize_message_id(raw)
    assert bool(forms) == bool(canonical)
    assert not forms or forms[0] == canonical


@given(st.text("0123456789abcdefABCDEF", min_size=1, max_size=80), st.integers(0, 3))
def test_message_id_readings_ignore_case_padding_and_nuls(raw: str, zeros: int) -> None:
    """The id from submit_sm_resp and the receipt's id correlate however the SMSC pads or cases either."""
    padded = " \x00" + "0" * zeros + raw.swapcase() + "\x00\r\n"
    assert normalize_message_id(padded) == normalize_message_id(raw)
    forms = message_id_forms(raw)
    if raw.isdigit() and len(forms) > 1:
        assert int(forms[1], 16) == int(raw)
    elif len(forms) > 1:
        assert int(forms[1]) == int(raw, 16)
