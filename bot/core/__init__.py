"""The pure core: request models, the card renderer and Block Kit's limits, alert correlation and the card
lifecycle, sealed values, coded errors. No I/O: besides the standard library it imports only pydantic (the request
models) and cryptography (AES-GCM for sealed button values); plain data in, plain data out."""
