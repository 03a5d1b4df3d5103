"""An SMPP 3.4 client (ESME) on asyncio: the PDU codec, a bound session with a window, and a link that keeps
the session up. It knows nothing of HTTP, databases or Twilio; the SMPP carrier (delivery/carriers/smpp.py)
is what connects it to the platform."""
