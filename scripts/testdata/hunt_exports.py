#!/usr/bin/env python3
"""Writes testdata/hunt-exports/ (deterministic: re-running gives the same files):

- m365-audit-search.csv: the Microsoft Purview audit search "Export results" CSV
  (https://learn.microsoft.com/en-us/purview/audit-log-export-records and
  https://learn.microsoft.com/en-us/purview/audit-log-detailed-properties): columns
  RecordId, CreationDate, RecordType, Operation, UserId, AuditData,
  AssociatedAdminUnits, AssociatedAdminUnitsNames; the AuditData column holds each
  record's JSON (Management Activity API common schema). The records are the Microsoft
  365 records of hunt_new_sources.py; one AuditData is pretty-printed over several lines
  (a quoted cell spanning lines), one is cut short (malformed) and one row has a missing
  column (malformed), so the reader's line numbers and problems are tested.
- azure-pim-alert-incidents.json / .ndjson: Microsoft Entra Privileged Identity Management
  alert incidents as Microsoft Graph returns them
  (GET /beta/identityGovernance/roleManagementAlerts/alerts/{id}/alertIncidents, a
  `{"@odata.context":...,"value":[...]}` page; resource types
  https://learn.microsoft.com/en-us/graph/api/resources/unifiedrolemanagementalertincident
  and its derived types staleSignInAlertIncident, tooManyGlobalAdminsAssignedToTenantAlertIncident,
  sequentialActivationRenewalsAlertIncident, noMfaOnRoleActivationAlertIncident,
  redundantAssignmentAlertIncident, invalidLicenseAlertIncident,
  rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident), and the alerts
  themselves (unifiedRoleManagementAlert: alertDefinitionId, scopeId, incidentCount,
  lastScannedDateTime...).
"""
import csv, io, json, os, sys

sys.path.insert(0, os.path.dirname(__file__))
import hunt_new_sources as base  # noqa: E402

OUT = os.path.join(base.ROOT, "testdata", "hunt-exports")
TENANT = base.TENANT


def m365_csv():
    rows = []
    for i, r in enumerate(base.m365_records):
        audit = json.dumps(r, separators=(",", ":"), ensure_ascii=False)
        if i == 1:
            # an AuditData cell pretty-printed over several lines
            audit = json.dumps(r, indent=1, ensure_ascii=False)
        rows.append([r["Id"], r["CreationTime"] + ".0000000Z", str(r["RecordType"]), r["Operation"],
                     r["UserId"], audit, "", ""])
    # a cut-short AuditData (malformed record), and a row with a column missing
    bad = base.m365_records[0]
    cut = json.dumps(bad, separators=(",", ":"))[:60]
    rows.insert(2, [base.uid("cut"), bad["CreationTime"] + ".0000000Z", "1", bad["Operation"], bad["UserId"], cut, "", ""])
    rows.insert(4, [base.uid("short"), bad["CreationTime"] + ".0000000Z", "1", bad["Operation"], bad["UserId"]])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["RecordId", "CreationDate", "RecordType", "Operation", "UserId", "AuditData",
                "AssociatedAdminUnits", "AssociatedAdminUnitsNames"])
    for r in rows:
        w.writerow(r)
    # Purview writes UTF-8 with a byte order mark
    with open(os.path.join(OUT, "m365-audit-search.csv"), "w", encoding="utf-8-sig", newline="") as f:
        f.write(buf.getvalue())


ROLE_GA = ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator")
ROLE_PRA = ("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator")
ROLE_APPADM = ("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator")


def incident(kind, n, **props):
    return {"@odata.type": f"#microsoft.graph.{kind}", "id": base.uid("pim", kind, n), **props}


def assignee(upn, name):
    return {"assigneeId": base.uid("user", upn), "assigneeDisplayName": name, "assigneeUserPrincipalName": upn}


def role(r):
    return {"roleTemplateId": r[0], "roleDefinitionId": r[0], "roleDisplayName": r[1]}


incidents = [
    incident("rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident", 1,
             **assignee("mallory@acme.onmicrosoft.com", "Mallory"), **role(ROLE_PRA),
             assignmentCreatedDateTime="2023-01-03T09:20:00Z"),
    incident("sequentialActivationRenewalsAlertIncident", 1,
             **assignee("alice@acme.onmicrosoft.com", "Alice"), **role(ROLE_APPADM), activationCount=6,
             sequenceStartDateTime="2023-01-02T08:00:00Z", sequenceEndDateTime="2023-01-02T11:00:00Z"),
    incident("staleSignInAlertIncident", 1, **assignee("old-admin@acme.onmicrosoft.com", "Old Admin"), **role(ROLE_GA),
             assignmentCreatedDateTime="2021-05-01T00:00:00Z", lastSignInDateTime="2022-06-30T17:00:00Z"),
    incident("tooManyGlobalAdminsAssignedToTenantAlertIncident", 1, **assignee("bob@acme.onmicrosoft.com", "Bob"),
             assignmentCreatedDateTime="2022-11-01T10:00:00Z"),
    incident("noMfaOnRoleActivationAlertIncident", 1, **role(ROLE_APPADM)),
    incident("redundantAssignmentAlertIncident", 1, **assignee("carol@acme.onmicrosoft.com", "Carol"), **role(ROLE_PRA),
             lastActivationDateTime="2022-09-12T14:00:00Z"),
    incident("invalidLicenseAlertIncident", 1, tenantLicenseStatus="expired"),
]

ALERT_IDS = {
    "rolesAssignedOutsidePrivilegedIdentityManagementAlertIncident": "RolesAssignedOutsidePimAlert",
    "sequentialActivationRenewalsAlertIncident": "SequentialActivationRenewalsAlert",
    "staleSignInAlertIncident": "StaleSignInAlert",
    "tooManyGlobalAdminsAssignedToTenantAlertIncident": "TooManyGlobalAdminsAssignedToTenantAlert",
    "noMfaOnRoleActivationAlertIncident": "NoMfaOnRoleActivationAlert",
    "redundantAssignmentAlertIncident": "RedundantAssignmentAlert",
    "invalidLicenseAlertIncident": "InvalidLicenseAlert",
}

alerts = [
    {
        "id": f"DirectoryRole_{TENANT}_{a}", "alertDefinitionId": f"DirectoryRole_{TENANT}_{a}",
        "scopeId": "/", "scopeType": "DirectoryRole", "incidentCount": 1, "isActive": True,
        "lastModifiedDateTime": "2023-01-03T10:00:00Z", "lastScannedDateTime": "2023-01-04T06:00:00Z",
    }
    for a in ALERT_IDS.values()
]


def pim():
    page = {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#identityGovernance/roleManagementAlerts/alerts('"
        + f"DirectoryRole_{TENANT}_RolesAssignedOutsidePimAlert')/alertIncidents",
        "value": incidents,
    }
    with open(os.path.join(OUT, "azure-pim-alert-incidents.json"), "w") as f:
        json.dump(page, f, indent=1)
        f.write("\n")
    with open(os.path.join(OUT, "azure-pim-alerts.ndjson"), "w") as f:
        for a in alerts:
            f.write(json.dumps(a) + "\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    m365_csv()
    pim()
    print("wrote 3 files to", OUT, file=sys.stderr)
