"""What webhooks/client.py works out once per URL, and its hand-written form encoder, give exactly what the
library calls they replaced give, for any input."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from hypothesis import example, given
from hypothesis import strategies as st

from mycpaas.webhooks.client import _target, form_body, without_credentials

params = st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=10)


@given(params)
@example({"MessageSid": "SM" + "a" * 32, "To": "+15558675310", "Body": "héllo wörld & more=1~_.-"})
@example({"a b": "c+d", "": "", "~": "%20"})
def test_form_body_is_urlencode(fields: dict[str, str]) -> None:
    assert form_body(fields) == urlencode(fields).encode("ascii")


urls = st.one_of(
    st.sampled_from(
        [
            "http://127.0.0.1:8080/cb",
            "https://user:p%40ss@example.com/status?x=1",
            "http://[::1]:9/x",
            "http://10.0.0.1/a b",
            "https://example.com/é?q=ü",
            "http://[::1",
            "http://169.254.169.254/latest",
        ]
    ),
    st.text(max_size=40).map(lambda tail: "https://example.com/" + tail),
)


@given(urls)
def test_without_credentials_is_kept_per_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    expected = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    assert without_credentials(url) == expected
    assert without_credentials(url) == expected  # the kept answer


def test_a_refused_ip_literal_is_refused_from_the_kept_target_too() -> None:
    for _ in range(2):
        assert _target("http://169.254.169.254/latest", True, False).refused
        assert _target("http://127.0.0.1:8080/cb", True, True).refused
        assert _target("http://127.0.0.1:8080/cb", False, False).refused is None
    target = _target("https://user:p%40ss@example.com/status?x=1", True, False)
    assert target.shown == "https://example.com/status?x=1"
    assert target.signed == "https://example.com/status?x=1"
    assert target.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss
