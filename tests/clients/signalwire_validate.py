"""Ask the official Python `signalwire` SDK (2.1.1) whether it accepts webhook signatures.

Runs under /work/main/.venv-signalwire/bin/python, started by tests/clients/test_webhook_validators.py. Reads one
JSON array of cases on stdin, each {"token", "url", "params", "signature", "method"} (`url` as the application
saw it, for GET with the parameters in its query string; `params` the POST form fields, {} for GET), and prints
{"versions": {...}, "results": [{"signalwire": bool}, ...]} in the order of the cases.

The validator is `signalwire.request_validator.RequestValidator(token).validate(url, params, signature)`. Given a
dict of form fields it delegates to twilio 6.54.0's `twilio.request_validator.RequestValidator` (the Twilio
scheme, base64 HMAC-SHA1 over the URL and the sorted fields). Given a string (a raw JSON body) it first tries
SignalWire's own scheme, hex HMAC-SHA1 over URL + body, which mycpaas does not send; only the dict form is used.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from signalwire.request_validator import RequestValidator


def main() -> None:
    cases = json.load(sys.stdin)
    results = [
        {
            "signalwire": RequestValidator(case["token"]).validate(
                case["url"], case["params"], case["signature"]
            )
        }
        for case in cases
    ]
    versions = {"signalwire": version("signalwire"), "twilio": version("twilio")}
    json.dump({"versions": versions, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
