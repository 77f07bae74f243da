"""The shared kernel: identifiers, CURP, errors, settings, strict encodings, bounded reading, the
message protocol, e.firma certificates and the ledger's pure maths. It imports no other Enlace
package (docs/architecture.md).
"""
