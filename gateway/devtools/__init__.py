"""Development and demo tooling: the dev CA, SAT-like CA and OCSP responder, synthetic population,
bootstrap and the narrated demo. Nothing that enlace serve loads imports it.
"""
