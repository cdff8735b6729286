"""CompanyInfo (qbo-reference §5.7): read-only here; read by `companyinfo/{realmId}` or query."""

from __future__ import annotations

from qbo_emulator.entities.common import Ctx, EntityType


class CompanyInfoType(EntityType):
    name = "CompanyInfo"
    deletable = False
    known = ["CompanyName", "LegalName", "CompanyAddr", "CustomerCommunicationAddr", "LegalAddr", "PrimaryPhone",
             "CompanyStartDate", "FiscalYearStartMonth", "Country", "Email", "WebAddr", "SupportedLanguages",
             "NameValue"]
    order = ["CompanyName", "LegalName", "CompanyAddr", "CustomerCommunicationAddr", "LegalAddr", "PrimaryPhone",
             "CompanyStartDate", "FiscalYearStartMonth", "Country", "Email", "WebAddr", "SupportedLanguages",
             "NameValue", "domain", "sparse", "Id", "SyncToken", "MetaData"]

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        doc = {k: v for k, v in body.items() if k in self.known}
        doc["Id"] = "1"
        return doc


COMPANY_INFO = CompanyInfoType()


def company_info_body(name: str, start_date: str) -> dict:
    """Fields as in quickbooks-ruby's company_info.xml; Country as an ISO-3 code since 2025 (§1.5)."""
    addr = {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
            "PostalCode": "87999", "Country": "USA"}
    return {
        "CompanyName": name, "LegalName": name, "CompanyAddr": addr, "CustomerCommunicationAddr": addr,
        "LegalAddr": addr, "PrimaryPhone": {"FreeFormNumber": "(650) 944-4444"}, "CompanyStartDate": start_date,
        "FiscalYearStartMonth": "January", "Country": "US", "Email": {"Address": "noreply@quickbooks.com"},
        "WebAddr": {}, "SupportedLanguages": "en",
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "IT services"},
                      {"Name": "SubscriptionStatus", "Value": "PAID"}, {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
    }
