"""Enlace's message protocol: the RFC 9421 profile, headers, JWS evidence, replay rules and the
gateway-to-source wire.
"""
