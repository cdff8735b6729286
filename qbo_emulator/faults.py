"""Error bodies in the shapes QBO really sends (qbo-reference §8.1), and the QboFault exception.

Three shapes: the standard `Fault` JSON (400, or inside a batch item), the gateway 401 body with
lower-case keys and an epoch-ms `time`, and the XML throttle fault (429) that QBO sends even to
JSON clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qbo_emulator.wire import CLOCK, dumps, envelope_time


@dataclass
class QboFault(Exception):
    """A business or validation failure. Rendered as `{"Fault":{...},"time":...}` with `status`."""

    code: str
    message: str
    detail: str
    element: str = ""
    status: int = 400
    type: str = "ValidationFault"
    with_time: bool = True
    extra: list[QboFault] = field(default_factory=list)

    def fault_object(self) -> dict:
        errors = [self, *self.extra]
        return {
            "Error": [{"Message": e.message, "Detail": e.detail, "code": e.code, "element": e.element}
                      for e in errors],
            "type": self.type,
        }

    def body(self) -> str:
        doc: dict = {"Fault": self.fault_object()}
        if self.with_time:
            doc["time"] = envelope_time()
        return dumps(doc)


# --- the faults QBO gives, with the Message/Detail wording of the captures (§8.4) -------------------

def stale_object(entity: str, entity_id: str) -> QboFault:
    # fx:batch_response_with_610_and_5010_faults, bid3
    return QboFault("5010", "Stale Object Error",
                    "Stale Object Error : You and QBO Emulator were working on this at the same time. "
                    "QBO Emulator finished before you did, so your work was not saved.")


def object_not_found(what: str = "") -> QboFault:
    # fx:batch_response_with_610_and_5010_faults, bid2
    detail = ("Object Not Found : Something you're trying to use has been made inactive. "
              "Check the fields with accounts, customers, items, vendors or employees.")
    if what:
        detail += f" ({what})"
    return QboFault("610", "Object Not Found", detail)


def invalid_id(value: str) -> QboFault:
    # fx:fault_400_invalid_id_2030 has element "Id" and no `time`
    return QboFault("2030", "Invalid ID", f"Id should be a valid number. Supplied value:{value}",
                    element="Id", with_time=False)


def invalid_query(detail: str) -> QboFault:
    return QboFault("4001", "Invalid query", detail)


def unsupported_operation(path: str) -> QboFault:
    # fx:fault_400_unsupported_operation_500: code "500" sent with HTTP 400
    return QboFault("500", "Unsupported Operation",
                    f"Operation Could not find resource for relative : {path} of full path: "
                    f"http://qbo-emulator{path} is not supported.")


def unsupported_property(entity: str, name: str, known: list[str]) -> QboFault:
    # fx:fault_400_unsupported_property_2010
    listed = ", ".join(f'"{k}"' for k in known[:60])
    return QboFault("2010", "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{name}" (class com.intuit.schema.finance.v3.{entity}), '
                    f"not marked as ignorable ({len(known)} known properties: {listed} [truncated]])\n"
                    " specified is unsupported or invalid")


def required_param(name: str) -> QboFault:
    return QboFault("2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request", element=name)


def invalid_reference(what: str) -> QboFault:
    return QboFault("2500", "Invalid Reference Id", f"Invalid Reference Id : {what}")


def business_validation(detail: str) -> QboFault:
    return QboFault("6000", "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {detail}")


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QboFault:
    return QboFault("6140", "Duplicate Document Number Error",
                    f"Duplicate Document Number Error : You must specify a different number. This number has "
                    f"already been used. DocNumber={doc_number} is assigned to TxnType={txn_type} with TxnId={txn_id}")


def duplicate_name(what: str) -> QboFault:
    # fx:fault_400_duplicate_name_6240 ("The name supplied already exists. : null")
    return QboFault("6240", "Duplicate Name Exists Error", f"The name supplied already exists. : {what}")


def deposited_locked() -> QboFault:
    return QboFault("6540", "Deposited Transaction cannot be changed",
                    "Deposited Transaction cannot be changed : This transaction has been deposited. If you "
                    "want to change or delete it, you must edit the deposit it appears on and remove it first.")


def system_fault(status: int = 500) -> QboFault:
    return QboFault("10000", "An application error has occurred while processing your request",
                    "System Failure Error: An unexpected error occurred while accessing or saving your data. "
                    "Please wait a few minutes and try again.", status=status, type="SystemFault")


# --- gateway and throttle bodies ---------------------------------------------------------------------

def gateway_auth_body(code: str, status: int, name: str, detail: str, fault_type: str) -> str:
    """fx:fault_401_token_expired_3200: lower-case keys, `time` as epoch milliseconds."""
    return dumps({
        "warnings": None, "intuitObject": None,
        "fault": {"error": [{"message": f"message={name}; errorCode=00{code}; statusCode={status}",
                             "detail": detail, "code": code, "element": None}], "type": fault_type},
        "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
        "syncErrorResponse": None, "requestId": None, "time": CLOCK.now_ms(), "status": None, "cdcresponse": [],
    })


WWW_AUTHENTICATE = 'Bearer realm="Intuit", error="invalid_token"'


def token_expired_body(token: str) -> str:
    return gateway_auth_body("3200", 401, "AuthenticationFailed", f"Token expired: {token[:50]}", "AUTHENTICATION")


def wrong_realm_body() -> str:
    return gateway_auth_body("3100", 403, "ApplicationAuthorizationFailed",
                             "ApplicationAuthorizationFailed: the token does not grant access to this company",
                             "AUTHORIZATION")


def throttle_xml() -> str:
    """fx:throttle_exceeded_429.xml, byte layout included; only `time` changes."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse time="{envelope_time()}" xmlns="http://schema.intuit.com/finance/v3">\n'
        '  <Fault type="SERVICE">\n'
        '    <Error code="3001">\n'
        "      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>\n"
        "      <Detail>The request limit was reached.  Try again later</Detail>\n"
        "    </Error>\n"
        "  </Fault>\n"
        "</IntuitResponse>\n"
    )
