"""The clients, services, purposes and legal bases the example agency apps use.

They are what the dev instance registers (``gateway.devtools.bootstrap``); a real agency's app
would read them from its own configuration.
"""

from __future__ import annotations

from gateway.kernel.ids import ClientId, ServiceId

RENAPO = ClientId.parse("MX/GOB/RENAPO/curp")
CURP_SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
BECAS = ClientId.parse("MX/GOB/SEP/becas")
PASAPORTES = ClientId.parse("MX/GOB/SRE/pasaportes")
BECAS_PURPOSE = "becas-inscripcion"
BECAS_LEGAL_BASIS = "LGE-art-8"
DATOS_SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-datos/v1")
REGCIVIL = ClientId.parse("MX/GOB/REGCIVIL/actas")
ACTA_SERVICE = ServiceId.parse("MX/GOB/REGCIVIL/actas/consulta-acta/v1")

SAT = ClientId.parse("MX/GOB/SAT/efirma")
EFIRMA_SERVICE = ServiceId.parse("MX/GOB/SAT/efirma/valida-efirma/v1")
FIRMA_SERVICE = ServiceId.parse("MX/GOB/SAT/efirma/verifica-firma/v1")
PERMISOS = ClientId.parse("MX/GOB/SE/permisos")
PERMISOS_PURPOSE = "permiso-solicitud"
PERMISOS_LEGAL_BASIS = "LFEA-art-7"  # Ley de Firma Electrónica Avanzada: e.firma = autógrafa
#: Where the dev SAT source asks for revocation status (``enlace source run sat-ocsp``).
