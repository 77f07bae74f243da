"use strict";
// The citizen page's texts: Spanish first, English kept in step (a test checks that both have
// the same keys). Keys are stable; {name} marks a value filled in by app.js. Error keys are
// "error." + the API's stable error code; "refusal." + an exchange error code is the sentence
// that says what a refusal meant for the citizen.

const TEXTS = {
  es: {
    "title": "Enlace · ¿Quién consultó mis datos?",
    "brand": "Enlace",
    "heading": "¿Quién consultó mis datos?",
    "subtitle": "Vea qué dependencias de gobierno consultaron sus datos a través de Enlace, " +
      "para qué y con qué fundamento legal.",
    "lang.switch": "English",
    "login.title": "Entrar con su e.firma",
    "login.privacy": "Su clave privada no sale de este navegador: aquí se abre con su " +
      "contraseña y se usa solo para firmar un reto de un solo uso. Al servidor llegan " +
      "únicamente su certificado (.cer) y esa firma.",
    "login.cer": "Certificado (.cer)",
    "login.key": "Clave privada (.key)",
    "login.password": "Contraseña de la clave privada",
    "login.submit": "Entrar",
    "login.working": "Abriendo su clave y verificando su e.firma…",
    "log.title": "Consultas sobre sus datos",
    "log.who": "{name} · CURP {curp} · su sesión termina a las {time}",
    "log.logout": "Salir",
    "trust.title": "Comprobación",
    "trust.ok": "Cada consulta está registrada en una bitácora que nadie puede alterar sin " +
      "que se note. Este navegador comprobó que lo que ve aquí está en esa bitácora, tal " +
      "como se registró.",
    "trust.checking": "Comprobando la bitácora…",
    "trust.bad": "No se pudo comprobar la bitácora firmada: no confíe en esta lista y " +
      "avise a la mesa de ayuda.",
    "trust.key": "Huella de la llave de la bitácora: {fingerprint}. Está publicada en ",
    "trust.key.and": " y en ",
    "filters.title": "Filtrar por fecha o dependencia",
    "filters.from": "Desde",
    "filters.to": "Hasta",
    "filters.agency": "Dependencia",
    "filters.all": "Todas",
    "filters.apply": "Filtrar",
    "filters.clear": "Quitar filtros",
    "card.data": "Qué datos",
    "card.data.none": "Ninguno: no se entregaron datos suyos.",
    "card.purpose": "Para qué",
    "card.basis": "Con qué fundamento",
    "card.official": "Quién",
    "card.official.value": "Servidor público {id}",
    "card.case.value": "expediente {case}",
    "card.service": "Servicio",
    "card.contact": "¿No reconoce esta consulta? Acuda a la dependencia: {contact}",
    "card.contact.none": "¿No reconoce esta consulta? Acuda a la Unidad de Transparencia " +
      "de la dependencia (vea «Sus derechos ARCO»).",
    "card.unverified": "La dependencia que aparece es la que dijo ser: su firma no se " +
      "pudo comprobar.",
    "card.disclosed": "Reservada por ley hasta el {date}; la autoridad ya la dio a conocer.",
    "details.title": "Detalles técnicos",
    "details.time": "Fecha (UTC, ISO 8601)",
    "details.index": "Registro n.º",
    "details.subsystem": "Sistema que consultó",
    "details.service": "Servicio (clave)",
    "details.purpose": "Finalidad (clave)",
    "details.basis": "Fundamento (clave)",
    "details.outcome": "Resultado (clave)",
    "details.error": "Motivo (clave)",
    "details.exchange": "Intercambio",
    "details.proof": "Prueba",
    "outcome.allowed": "Datos entregados",
    "outcome.refused": "Consulta rechazada",
    "outcome.not_found": "Sin datos",
    "outcome.failed": "No se completó",
    "outcome.undelivered": "No entregada",
    "meaning.allowed": "La dependencia recibió de la fuente los datos que se listan abajo.",
    "meaning.refused": "Enlace rechazó la consulta: la dependencia no recibió ningún dato suyo.",
    "meaning.not_found": "La fuente no encontró datos con lo que se pidió: no se entregó nada.",
    "meaning.failed": "La consulta falló por un problema técnico: no se entregó ningún dato suyo.",
    "meaning.undelivered": "La respuesta no llegó a la dependencia (el registro tardó " +
      "demasiado): no recibió ningún dato suyo. Una entrada posterior del registro lo corrige.",
    "refusal.Client.PurposeNotGranted": "La dependencia pidió sus datos para una finalidad " +
      "que no tiene autorizada; Enlace se los negó y no recibió nada.",
    "refusal.Client.LegalBasisNotGranted": "La dependencia invocó un fundamento legal que no " +
      "tiene autorizado; Enlace se los negó y no recibió nada.",
    "refusal.Client.AccessDenied": "La dependencia no tiene permiso para este servicio; " +
      "Enlace se lo negó y no recibió ningún dato suyo.",
    "refusal.Client.InvalidSignature": "La solicitud no venía firmada por quien decía ser; " +
      "Enlace la rechazó y nadie recibió datos suyos.",
    "proof.verified": "Comprobada",
    "proof.failed": "No comprobada",
    "proof.checking": "Comprobando…",
    "proof.verified.title": "Está en la bitácora firmada de {size} registros",
    "proof.failed.title": "Este registro no coincide con la bitácora firmada: no confíe en él",
    "logins.one": "Usted entró a esta página 1 vez ({last}).",
    "logins.many": "Usted entró a esta página {count} veces; la última, {last}.",
    "log.empty": "Nadie ha consultado sus datos a través de Enlace.",
    "log.empty.filtered": "Ninguna consulta coincide con estos filtros.",
    "log.more": "Ver más",
    "download.title": "Llévese la lista",
    "download.bundle": "Descargar pruebas (JSON)",
    "download.csv": "Descargar la lista (CSV)",
    "download.key": "Descargar la llave de la bitácora",
    "download.check": "Las pruebas descargadas se pueden comprobar después, sin conexión con " +
      "este sitio y sin instalar nada:",
    "log.covert": "Las consultas de investigaciones reservadas por ley aparecen aquí cuando " +
      "termina la reserva o la autoridad las da a conocer.",
    "nav.check": "Comprobar un archivo de pruebas",
    "nav.arco": "Sus derechos ARCO",
    "nav.privacy": "Aviso de privacidad",
    "nav.back": "Volver",
    "check.title": "Comprobar un archivo de pruebas",
    "check.intro": "Elija un archivo de pruebas descargado de esta página. Este navegador " +
      "comprueba la firma de la bitácora y que cada registro esté en ella sin cambios. El " +
      "archivo no se envía a ningún lado.",
    "check.file": "Archivo de pruebas (enlace-pruebas.json)",
    "check.working": "Comprobando…",
    "check.ok": "El archivo es auténtico: sus {count} registros están en la bitácora firmada " +
      "(de {size} registros), tal como se registraron. Llave: {fingerprint}.",
    "check.bad": "El archivo NO pasa la comprobación: {reason}. No confíe en su contenido.",
    "check.bad.format": "no es un archivo de pruebas de Enlace",
    "check.bad.signature": "la firma de la bitácora no corresponde a la llave publicada",
    "check.bad.entry": "el registro n.º {index} no coincide con la bitácora",
    "verifier.title": "Verificador de pruebas de Enlace",
    "verifier.intro": "Compruebe un archivo de pruebas descargado de Enlace sin conexión y sin " +
      "confiar en ningún servidor: la firma de la bitácora, sus testigos, que cada registro " +
      "esté en ella, que la lista esté completa y, con un archivo anterior, que la bitácora " +
      "sólo creció entre ambos y que nada del anterior se quitó ni cambió. Nada sale de esta " +
      "computadora.",
    "verifier.bundle": "Archivo de pruebas (enlace-pruebas.json)",
    "verifier.older": "Archivo de pruebas anterior (opcional)",
    "verifier.trust": "Documento de confianza (trust.json), o pegue las llaves abajo",
    "verifier.vkey": "Llave de la bitácora",
    "verifier.witnesses": "Llaves de los testigos (una por línea)",
    "verifier.quorum": "Número de testigos exigidos",
    "verifier.check": "Comprobar",
    "verifier.fingerprint": "Huella: {fingerprint}. Compárela con la publicada por el operador.",
    "verifier.bad_trust": "Ese archivo no es un documento de confianza válido de Enlace.",
    "verifier.offline": "Obtenga las llaves y sus huellas de una fuente independiente del " +
      "servidor que comprueba (docs/trust.md): el Diario Oficial, el portal de transparencia.",
    "check.bad.witnesses": "la bitácora no tiene las firmas de los testigos independientes " +
      "que se exigen ({detail})",
    "check.bad.completeness": "la prueba de que la lista está completa no coincide: falta, " +
      "sobra o se cambió de orden algún registro",
    "check.bad.consistency": "la bitácora de este archivo no es una continuación de la del " +
      "archivo anterior: la historia se reescribió",
    "check.bad.consistency_missing": "este archivo no trae la prueba desde el tamaño del " +
      "archivo anterior ({detail} registros); descargue uno nuevo después de abrir la página " +
      "con el mismo navegador, o compare con otro archivo",
    "check.bad.older_format": "para comparar dos archivos, ambos deben traer la prueba de que " +
      "la lista está completa (archivos de la versión 2)",
    "check.bad.older_larger": "la bitácora del archivo anterior ({detail} registros) es más " +
      "grande que la de este: quizá se eligieron los archivos al revés",
    "check.bad.older_entry": "un registro del archivo anterior falta o cambió en este: el " +
      "n.º {index}",
    "check.bad.older_key": "una lista que prueba el archivo anterior no está en este: compare " +
      "dos archivos de la misma persona",
    "check.bad.older_chain": "la lista sobre usted del archivo anterior no es el comienzo de " +
      "la de este: la lista se reescribió",
    "check.bad.in_older": "el archivo anterior, por sí solo: {reason}",
    "check.complete": "La lista está completa hasta el registro {size}: no falta ni sobra " +
      "ninguno de los {count} registros sobre usted.",
    "check.witnessed": "Firmada también por {count} testigo(s) independiente(s): {names}.",
    "check.consistent": "La bitácora continúa, sin cambios, la del archivo anterior (de " +
      "{size} registros), y cada registro de ese archivo sigue en este, en su lugar.",
    "complete.ok": "Lista completa hasta el registro {size}, atestiguada por {witnesses}.",
    "complete.ok.none": "Lista completa hasta el registro {size} (sin testigos independientes).",
    "complete.checking": "Comprobando que la lista esté completa…",
    "complete.waiting": "Esperando la firma de los testigos independientes…",
    "complete.bad": "No se pudo comprobar que la lista esté completa: {reason}.",
    "complete.unavailable": "Esta bitácora todavía no ofrece prueba de que la lista esté completa.",
    "history.first": "Esta es la primera vez que este navegador comprueba la bitácora; la " +
      "recordará para la próxima visita.",
    "history.same": "La bitácora es la misma que este navegador comprobó la última vez.",
    "history.extended": "La bitácora sólo creció desde la última vez que este navegador la " +
      "comprobó ({old} registros entonces, {size} ahora): nada se borró ni se cambió.",
    "history.rollback": "¡Alerta! La bitácora es más pequeña ({size} registros) que la que " +
      "este navegador comprobó antes ({old}): alguien borró registros. Avise al operador y " +
      "al INAI.",
    "history.fork": "¡Alerta! La bitácora no continúa la que este navegador comprobó antes " +
      "({old} registros): la historia se reescribió. Avise al operador y al INAI.",
    "history.unproven": "No se pudo obtener la prueba de que la bitácora sólo creció; se " +
      "intentará en la próxima visita.",
    "trust.missing": "Esta página no tiene su documento de confianza (trust.json): no puede " +
      "comprobar la bitácora. No confíe en esta lista.",
    "check.offline": "Un experto puede comprobarlo también con cualquier verificador " +
      "independiente, usando las llaves publicadas (por ejemplo: enlace ledger check-proof " +
      "enlace-pruebas.json --trust trust.json, o el verificador sin conexión verifier.html).",
    "arco.title": "Sus derechos ARCO",
    "arco.intro": "La ley de protección de datos personales le da cuatro derechos sobre los " +
      "datos que las dependencias tienen de usted:",
    "arco.a": "Acceso:",
    "arco.a.text": "saber qué datos suyos tiene una dependencia y para qué los usa.",
    "arco.r": "Rectificación:",
    "arco.r.text": "que corrija los que estén mal o incompletos.",
    "arco.c": "Cancelación:",
    "arco.c.text": "que borre los que ya no necesite o no deba tener.",
    "arco.o": "Oposición:",
    "arco.o.text": "que deje de usarlos para un fin concreto.",
    "arco.how.title": "Cómo ejercerlos",
    "arco.how": "Presente su solicitud a la Unidad de Transparencia de la dependencia que " +
      "tiene sus datos: en cada consulta de esta página aparece su contacto. También puede " +
      "hacerlo en la Plataforma Nacional de Transparencia. Es gratuito y deben responderle " +
      "en un plazo máximo de 20 días hábiles.",
    "arco.appeal": "Si no le responden o no está de acuerdo con la respuesta, puede " +
      "presentar un recurso de revisión ante la autoridad garante.",
    "arco.contact": "Sobre los datos de esta página (su entrada y la bitácora): {contact}",
    "privacy.title": "Aviso de privacidad simplificado",
    "privacy.operator": "Responsable de sus datos en esta página: {operator}.",
    "privacy.data": "Qué datos usamos: los de su certificado de e.firma (nombre, RFC y CURP) " +
      "al entrar, y las consultas sobre usted que ya están en la bitácora. Su clave privada " +
      "y su contraseña no salen de su navegador.",
    "privacy.purpose": "Para qué: para confirmar que es usted y mostrarle quién consultó sus " +
      "datos. Su entrada queda registrada en la bitácora, y usted la ve aquí.",
    "privacy.transfers": "No usamos sus datos para ningún otro fin ni los transferimos.",
    "privacy.rights": "Puede ejercer sus derechos ARCO como se explica en «Sus derechos ARCO».",
    "privacy.full": "Aviso de privacidad integral",
    "turn.title": "¿A quién acudir?",
    "help": "Mesa de ayuda: {contact}",
    "footer": "Enlace: intercambio de datos entre dependencias, con bitácora verificable.",
    "error.files": "Elija su certificado (.cer) y su clave privada (.key).",
    "error.local.key_in_cer": "En «Certificado (.cer)» eligió una clave privada (.key): " +
      "elija ahí el archivo .cer.",
    "error.local.cer_in_key": "En «Clave privada (.key)» eligió un certificado (.cer): elija " +
      "ahí el archivo .key.",
    "error.local.swapped": "Eligió los archivos al revés: el .cer va en «Certificado» y el " +
      ".key en «Clave privada».",
    "error.local.password": "La contraseña no abre esta clave privada, o el archivo .key no es válido.",
    "error.local.crypto": "Este navegador no puede firmar aquí: se requiere HTTPS y un navegador actual.",
    "error.local.script": "Falta un componente de la página (node-forge). Avise a la mesa de ayuda.",
    "error.citizen.bad_signature": "La firma no corresponde al certificado: ¿la clave privada es de este certificado?",
    "error.citizen.challenge_expired": "Tardó demasiado: intente de nuevo.",
    "error.citizen.challenge_reused": "Intente de nuevo.",
    "error.citizen.not_persona_fisica": "Es la e.firma de una persona moral: entre con la suya, como persona física.",
    "error.citizen.token_expired": "Su sesión terminó: entre de nuevo.",
    "error.citizen.unauthenticated": "Su sesión terminó: entre de nuevo.",
    "error.citizen.unavailable": "El acceso con e.firma no está disponible por ahora.",
    "error.citizen.rate_limited": "Demasiados intentos: espere un momento y vuelva a intentar.",
    "error.efirma.is_csd": "Este es un Certificado de Sello Digital (CSD), no una e.firma.",
    "error.efirma.expired": "Su e.firma está vencida.",
    "error.efirma.not_yet_valid": "Su e.firma aún no es válida.",
    "error.efirma.revoked": "Su e.firma fue revocada.",
    "error.efirma.unknown_issuer": "Este certificado no fue emitido por el SAT.",
    "error.efirma.malformed": "El archivo .cer no es un certificado válido.",
    "error.ocsp": "No se pudo confirmar con el SAT que su e.firma siga vigente; intente más tarde.",
    "error.generic": "No se pudo completar la operación ({code}).",
  },
  en: {
    "title": "Enlace · Who accessed my data?",
    "brand": "Enlace",
    "heading": "Who accessed my data?",
    "subtitle": "See which government agencies consulted your data through Enlace, what for " +
      "and on what legal basis.",
    "lang.switch": "Español",
    "login.title": "Log in with your e.firma",
    "login.privacy": "Your private key never leaves this browser: it is opened here with your " +
      "password and only used to sign a one-time challenge. The server receives only your " +
      "certificate (.cer) and that signature.",
    "login.cer": "Certificate (.cer)",
    "login.key": "Private key (.key)",
    "login.password": "Private key password",
    "login.submit": "Log in",
    "login.working": "Opening your key and checking your e.firma…",
    "log.title": "Accesses to your data",
    "log.who": "{name} · CURP {curp} · your session ends at {time}",
    "log.logout": "Log out",
    "trust.title": "Verification",
    "trust.ok": "Every access is recorded in a log that nobody can alter without it being " +
      "noticed. This browser checked that what you see here is in that log, exactly as it " +
      "was recorded.",
    "trust.checking": "Checking the log…",
    "trust.bad": "The signed log could not be checked: do not trust this list, and tell " +
      "the help desk.",
    "trust.key": "Fingerprint of the log's key: {fingerprint}. It is published at ",
    "trust.key.and": " and at ",
    "filters.title": "Filter by date or agency",
    "filters.from": "From",
    "filters.to": "To",
    "filters.agency": "Agency",
    "filters.all": "All",
    "filters.apply": "Filter",
    "filters.clear": "Clear filters",
    "card.data": "Which data",
    "card.data.none": "None: no data about you was delivered.",
    "card.purpose": "What for",
    "card.basis": "Legal basis",
    "card.official": "Who",
    "card.official.value": "Official {id}",
    "card.case.value": "case {case}",
    "card.service": "Service",
    "card.contact": "Don't recognise this access? Contact the agency: {contact}",
    "card.contact.none": "Don't recognise this access? Contact the agency's transparency " +
      "unit (see \u201cYour ARCO rights\u201d).",
    "card.unverified": "The agency shown is the one the request claimed to be: its " +
      "signature could not be checked.",
    "card.disclosed": "Withheld by law until {date}; the authority has disclosed it.",
    "details.title": "Technical details",
    "details.time": "Time (UTC, ISO 8601)",
    "details.index": "Entry no.",
    "details.subsystem": "System that asked",
    "details.service": "Service (code)",
    "details.purpose": "Purpose (code)",
    "details.basis": "Legal basis (code)",
    "details.outcome": "Outcome (code)",
    "details.error": "Reason (code)",
    "details.exchange": "Exchange",
    "details.proof": "Proof",
    "outcome.allowed": "Data delivered",
    "outcome.refused": "Request refused",
    "outcome.not_found": "No data",
    "outcome.failed": "Not completed",
    "outcome.undelivered": "Not delivered",
    "meaning.allowed": "The agency received the data listed below from the source.",
    "meaning.refused": "Enlace refused the request: the agency received no data about you.",
    "meaning.not_found": "The source found no data matching the request: nothing was delivered.",
    "meaning.failed": "The request failed for a technical reason: no data about you was delivered.",
    "meaning.undelivered": "The answer never reached the agency (recording it took too " +
      "long): it received no data about you. A later ledger entry corrects this one.",
    "refusal.Client.PurposeNotGranted": "The agency asked for your data for a purpose it is " +
      "not authorised for; Enlace refused and it received nothing.",
    "refusal.Client.LegalBasisNotGranted": "The agency cited a legal basis it is not " +
      "authorised for; Enlace refused and it received nothing.",
    "refusal.Client.AccessDenied": "The agency has no permission for this service; Enlace " +
      "refused and it received no data about you.",
    "refusal.Client.InvalidSignature": "The request was not signed by whom it claimed; " +
      "Enlace refused it and nobody received data about you.",
    "proof.verified": "Verified",
    "proof.failed": "Not verified",
    "proof.checking": "Checking…",
    "proof.verified.title": "It is in the signed log of {size} entries",
    "proof.failed.title": "This entry does not match the signed log: do not trust it",
    "logins.one": "You logged in to this page once ({last}).",
    "logins.many": "You logged in to this page {count} times; the last, {last}.",
    "log.empty": "Nobody has consulted your data through Enlace.",
    "log.empty.filtered": "No access matches these filters.",
    "log.more": "Show more",
    "download.title": "Take the list with you",
    "download.bundle": "Download proofs (JSON)",
    "download.csv": "Download the list (CSV)",
    "download.key": "Download the log's key",
    "download.check": "Downloaded proofs can be checked later, without this site and " +
      "without installing anything:",
    "log.covert": "Queries made in investigations that the law keeps confidential appear here " +
      "when the confidentiality period ends or the authority discloses them.",
    "nav.check": "Check a proof file",
    "nav.arco": "Your ARCO rights",
    "nav.privacy": "Privacy notice",
    "nav.back": "Back",
    "check.title": "Check a proof file",
    "check.intro": "Choose a proof file downloaded from this page. This browser checks the " +
      "log's signature and that each entry is in it unaltered. The file is sent nowhere.",
    "check.file": "Proof file (enlace-pruebas.json)",
    "check.working": "Checking…",
    "check.ok": "The file is authentic: its {count} entries are in the signed log (of " +
      "{size} entries), exactly as recorded. Key: {fingerprint}.",
    "check.bad": "The file does NOT pass the check: {reason}. Do not trust its contents.",
    "check.bad.format": "it is not an Enlace proof file",
    "check.bad.signature": "the log's signature does not match the published key",
    "check.bad.entry": "entry no. {index} does not match the log",
    "verifier.title": "Enlace proof verifier",
    "verifier.intro": "Check a proof file downloaded from Enlace offline, trusting no server: " +
      "the log's signature, its witnesses, that each entry is in it, that the list is " +
      "complete and, given an older file, that the log only grew between the two and nothing " +
      "of the older one was removed or changed. Nothing leaves this computer.",
    "verifier.bundle": "Proof file (enlace-pruebas.json)",
    "verifier.older": "Older proof file (optional)",
    "verifier.trust": "Trust document (trust.json), or paste the keys below",
    "verifier.vkey": "The log's key",
    "verifier.witnesses": "Witness keys (one per line)",
    "verifier.quorum": "Witnesses required",
    "verifier.check": "Check",
    "verifier.fingerprint": "Fingerprint: {fingerprint}. Compare it with the operator's.",
    "verifier.bad_trust": "That file is not a valid Enlace trust document.",
    "verifier.offline": "Get the keys and their fingerprints from a source independent of the " +
      "server you check (docs/trust.md): the official gazette, the transparency portal.",
    "check.bad.witnesses": "the log lacks the required signatures of independent " +
      "witnesses ({detail})",
    "check.bad.completeness": "the proof that the list is complete does not match: an entry " +
      "is missing, added or out of order",
    "check.bad.consistency": "this file's log does not continue the older file's: its " +
      "history was rewritten",
    "check.bad.consistency_missing": "this file carries no proof from the older file's size " +
      "({detail} entries); download a new one after opening the page in the same browser, or " +
      "compare with another file",
    "check.bad.older_format": "to compare two files, both must carry the proof that the list " +
      "is complete (version 2 files)",
    "check.bad.older_larger": "the older file's log ({detail} entries) is larger than this " +
      "one's: perhaps the two files were chosen the wrong way round",
    "check.bad.older_entry": "an entry of the older file is missing or changed in this one: " +
      "no. {index}",
    "check.bad.older_key": "a list the older file proves is not in this one: compare two files " +
      "of the same person",
    "check.bad.older_chain": "the older file's list for you is not the start of this one's: " +
      "the list was rewritten",
    "check.bad.in_older": "the older file, on its own: {reason}",
    "check.complete": "The list is complete up to entry {size}: none of the {count} entries " +
      "about you is missing and none was added.",
    "check.witnessed": "Also signed by {count} independent witness(es): {names}.",
    "check.consistent": "The log continues, unchanged, the older file's (of {size} entries), " +
      "and every entry of that file is still in this one, in its place.",
    "complete.ok": "Complete up to entry {size}, witnessed by {witnesses}.",
    "complete.ok.none": "Complete up to entry {size} (no independent witnesses).",
    "complete.checking": "Checking that the list is complete…",
    "complete.waiting": "Waiting for the independent witnesses' signatures…",
    "complete.bad": "Could not check that the list is complete: {reason}.",
    "complete.unavailable": "This log does not offer a proof that the list is complete yet.",
    "history.first": "This is the first time this browser checks the log; it will remember " +
      "it for your next visit.",
    "history.same": "The log is the same one this browser checked last time.",
    "history.extended": "The log only grew since this browser last checked it ({old} entries " +
      "then, {size} now): nothing was deleted or changed.",
    "history.rollback": "Warning! The log is smaller ({size} entries) than the one this " +
      "browser checked before ({old}): entries were deleted. Tell the operator and INAI.",
    "history.fork": "Warning! The log does not continue the one this browser checked before " +
      "({old} entries): its history was rewritten. Tell the operator and INAI.",
    "history.unproven": "The proof that the log only grew could not be fetched; it will be " +
      "tried again on your next visit.",
    "trust.missing": "This page lacks its trust document (trust.json): it cannot check the " +
      "log. Do not trust this list.",
    "check.offline": "An expert can also check it with any independent verifier, using the " +
      "published keys (for example: enlace ledger check-proof enlace-pruebas.json --trust " +
      "trust.json, or the offline verifier verifier.html).",
    "arco.title": "Your ARCO rights",
    "arco.intro": "Mexico's personal data protection law gives you four rights over the data " +
      "agencies hold about you:",
    "arco.a": "Access:",
    "arco.a.text": "to know which of your data an agency holds and what it uses them for.",
    "arco.r": "Rectification:",
    "arco.r.text": "to have wrong or incomplete data corrected.",
    "arco.c": "Cancellation:",
    "arco.c.text": "to have data deleted that it no longer needs or should not hold.",
    "arco.o": "Opposition:",
    "arco.o.text": "to have it stop using them for a given purpose.",
    "arco.how.title": "How to exercise them",
    "arco.how": "Send your request to the transparency unit of the agency that holds your " +
      "data: each access on this page shows its contact. You can also use the Plataforma " +
      "Nacional de Transparencia. It is free, and the answer is due within 20 working days.",
    "arco.appeal": "If you get no answer or disagree with it, you can file a review appeal " +
      "(recurso de revisión) with the supervisory authority.",
    "arco.contact": "About the data of this page (your logins and the log): {contact}",
    "privacy.title": "Short privacy notice",
    "privacy.operator": "Responsible for your data on this page: {operator}.",
    "privacy.data": "What we use: your e.firma certificate's data (name, RFC and CURP) when " +
      "you log in, and the accesses about you already in the log. Your private key and " +
      "password never leave your browser.",
    "privacy.purpose": "What for: to confirm that it is you and to show you who consulted " +
      "your data. Your login is recorded in the log, and you see it here.",
    "privacy.transfers": "We use your data for nothing else and transfer it to nobody.",
    "privacy.rights": "You can exercise your ARCO rights as \u201cYour ARCO rights\u201d explains.",
    "privacy.full": "Full privacy notice",
    "turn.title": "Where to turn",
    "help": "Help desk: {contact}",
    "footer": "Enlace: data exchange between agencies, with a verifiable audit log.",
    "error.files": "Choose your certificate (.cer) and private key (.key).",
    "error.local.key_in_cer": "You chose a private key (.key) under \u201cCertificate " +
      "(.cer)\u201d: choose the .cer file there.",
    "error.local.cer_in_key": "You chose a certificate (.cer) under \u201cPrivate key " +
      "(.key)\u201d: choose the .key file there.",
    "error.local.swapped": "The files are the wrong way round: the .cer goes under " +
      "\u201cCertificate\u201d and the .key under \u201cPrivate key\u201d.",
    "error.local.password": "The password does not open this private key, or the .key file is not valid.",
    "error.local.crypto": "This browser cannot sign here: HTTPS and a current browser are required.",
    "error.local.script": "A component of the page (node-forge) is missing. Please tell the help desk.",
    "error.citizen.bad_signature": "The signature does not match the certificate: is the private key this certificate's?",
    "error.citizen.challenge_expired": "That took too long: please try again.",
    "error.citizen.challenge_reused": "Please try again.",
    "error.citizen.not_persona_fisica": "This is a company's e.firma: log in with your own, as a person.",
    "error.citizen.token_expired": "Your session ended: please log in again.",
    "error.citizen.unauthenticated": "Your session ended: please log in again.",
    "error.citizen.unavailable": "Logging in with e.firma is not available right now.",
    "error.citizen.rate_limited": "Too many attempts: wait a moment and try again.",
    "error.efirma.is_csd": "This is a digital seal certificate (CSD), not an e.firma.",
    "error.efirma.expired": "Your e.firma has expired.",
    "error.efirma.not_yet_valid": "Your e.firma is not valid yet.",
    "error.efirma.revoked": "Your e.firma has been revoked.",
    "error.efirma.unknown_issuer": "This certificate was not issued by SAT.",
    "error.efirma.malformed": "The .cer file is not a valid certificate.",
    "error.ocsp": "SAT could not confirm that your e.firma is still valid; please try later.",
    "error.generic": "The operation could not be completed ({code}).",
  },
};
