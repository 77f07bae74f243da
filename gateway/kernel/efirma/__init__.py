"""SAT e.firma certificates: parsing (certificate, der), OCSP (ocsp) and validation against SAT's
CAs (validation).
"""
