"""Header names of the Enlace message protocol (see docs/protocol.md)."""

CLIENT = "X-Road-Client"
ID = "X-Road-Id"
USER_ID = "X-Road-UserId"
ISSUE = "X-Road-Issue"
REQUEST_HASH = "X-Road-Request-Hash"
ERROR = "X-Road-Error"
SERVICE = "X-Road-Service"
SUBJECT = "Enlace-Subject"
#: The Enlace-Subject value for operations that discover their subjects (docs/sources.md).
UNKNOWN_SUBJECT = "unknown"
PURPOSE = "Enlace-Purpose"
LEGAL_BASIS = "Enlace-Legal-Basis"
LEDGER_INDEX = "Enlace-Ledger-Index"
RECEIPT = "Enlace-Receipt"
CONTENT_DIGEST = "Content-Digest"
SIGNATURE = "Signature"
SIGNATURE_INPUT = "Signature-Input"

#: Headers a consumer must send, in the order they are signed.
REQUIRED_REQUEST = (CLIENT, ID, USER_ID, ISSUE, SUBJECT, PURPOSE, LEGAL_BASIS)
