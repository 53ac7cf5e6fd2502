#!/usr/bin/env python3
"""Writes the faithfully shaped test records of the Entra ID audit / risk, Microsoft 365,
Google Workspace and Okta sources into testdata/hunt/ (deterministic: re-running gives
the same files). Shapes follow the vendors' documented schemas:
- Entra ID audit logs: diagnostic-settings export (AuditLogs category) and Graph
  directoryAudit (https://learn.microsoft.com/en-us/graph/api/resources/directoryaudit);
- Entra ID Protection: Graph riskDetection
  (https://learn.microsoft.com/en-us/graph/api/resources/riskdetection);
- Microsoft 365: Management Activity API common schema + Exchange admin and Entra ID
  records (https://learn.microsoft.com/en-us/office/office-365-management-api/office-365-management-activity-api-schema);
- Google Workspace: Admin SDK Reports activities
  (https://developers.google.com/admin-sdk/reports/reference/rest/v1/activities);
- Okta: System Log LogEvent (https://developer.okta.com/docs/reference/api/system-log/).
"""
import json, uuid, os, sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "testdata", "hunt")
TENANT = "4f1e2c3a-8b7d-4e2f-9a1b-6c5d4e3f2a1b"
NS = uuid.UUID("6f1d7f2e-1c1a-4c4e-9a55-2f0a8b1d3c77")


def uid(*parts):
    return str(uuid.uuid5(NS, "/".join(map(str, parts))))


# ---- Entra ID audit logs, diagnostic-settings export ---------------------------------
def aad_audit(t, activity, category, op_type, initiated_by, targets, result="success", reason="", details=()):
    cid = uid("aad", t, activity)
    return {
        "time": t,
        "resourceId": f"/tenants/{TENANT}/providers/Microsoft.aadiam",
        "operationName": activity,
        "operationVersion": "1.0",
        "category": "AuditLogs",
        "tenantId": TENANT,
        "resultSignature": "None",
        "durationMs": 0,
        "callerIpAddress": "<null>",
        "correlationId": cid,
        "Level": 4,
        "properties": {
            "id": f"Directory_{cid[:8].upper()}_{cid[9:13]}",
            "category": category,
            "correlationId": cid,
            "result": result,
            "resultReason": reason,
            "activityDisplayName": activity,
            "activityDateTime": t,
            "loggedByService": "Core Directory",
            "operationType": op_type,
            "initiatedBy": initiated_by,
            "targetResources": targets,
            "additionalDetails": list(details),
        },
    }


CI_APP = {"app": {"appId": "0f3a9c1e-4b2d-4f6a-8e9c-1d2b3a4c5e6f", "displayName": "build-deployer",
                  "servicePrincipalId": "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "servicePrincipalName": None}}
ALICE = {"user": {"id": "804f27dc-e80a-5c7e-aa16-b2a3c8e71793", "displayName": None,
                  "userPrincipalName": "alice@acme.onmicrosoft.com", "ipAddress": "192.0.2.10", "roles": []}}
MALLORY_IP = "198.51.100.66"


def sp_target(name, props):
    return [{"id": "2c4e6a8b-0d1f-4a3c-8e5b-7d9f1a3c5e7b", "displayName": name, "type": "ServicePrincipal",
             "modifiedProperties": props, "administrativeUnits": []}]


KEY_PROPS = [{"displayName": "KeyDescription", "oldValue": "[]",
              "newValue": "[\"[KeyIdentifier=5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e,KeyType=Password,KeyUsage=Verify,DisplayName=ci]\"]"},
             {"displayName": "Included Updated Properties", "oldValue": None, "newValue": "\"KeyDescription\""}]

audit_records = [
    # baseline: a user added to a group
    aad_audit("2022-12-05T09:30:00.0000000Z", "Add member to group", "GroupManagement", "Assign", ALICE,
              [{"id": "c0ffee00-0000-4000-8000-000000000001", "displayName": None, "type": "User",
                "userPrincipalName": "bob@acme.onmicrosoft.com", "modifiedProperties": [], "administrativeUnits": []}]),
    # in the window: the stolen CI service principal adds itself a secret
    aad_audit("2023-01-02T10:15:00.0000000Z", "Add service principal credentials", "ApplicationManagement", "Update",
              CI_APP, sp_target("build-deployer", KEY_PROPS)),
    aad_audit("2023-01-02T10:16:00.0000000Z", "Update application \u2013 Certificates and secrets management ",
              "ApplicationManagement", "Update", CI_APP, sp_target("build-deployer", KEY_PROPS)),
    # and a directory role
    aad_audit("2023-01-02T10:20:00.0000000Z", "Add member to role", "RoleManagement", "Assign", CI_APP,
              [{"id": "804f27dc-e80a-5c7e-aa16-b2a3c8e71793", "displayName": None, "type": "User",
                "userPrincipalName": "mallory@acme.onmicrosoft.com",
                "modifiedProperties": [{"displayName": "Role.DisplayName", "oldValue": None, "newValue": "\"Global Administrator\""}],
                "administrativeUnits": []}]),
    # a failed attempt (insufficient privileges)
    aad_audit("2023-01-02T10:25:00.0000000Z", "Add service principal credentials", "ApplicationManagement", "Update",
              CI_APP, sp_target("payments-api", KEY_PROPS), result="failure", reason="Insufficient privileges"),
]

# ---- Entra ID audit logs, Microsoft Graph directoryAudit page -------------------------
def graph_audit(t, activity, category, op_type, initiated_by, targets, result="success", details=()):
    cid = uid("graph", t, activity)
    return {
        "id": f"Directory_{cid[:8].upper()}_{cid[9:13]}",
        "category": category,
        "correlationId": cid,
        "result": result,
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": t,
        "loggedByService": "Core Directory",
        "operationType": op_type,
        "initiatedBy": initiated_by,
        "targetResources": targets,
        "additionalDetails": list(details),
    }


MALLORY = {"user": {"id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "displayName": None,
                    "userPrincipalName": "mallory@acme.onmicrosoft.com", "ipAddress": MALLORY_IP, "roles": []}}
graph_page = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
    "value": [
        graph_audit("2022-12-06T08:00:00Z", "Update user", "UserManagement", "Update", ALICE,
                    [{"id": "c0ffee00-0000-4000-8000-000000000001", "displayName": None, "type": "User",
                      "userPrincipalName": "bob@acme.onmicrosoft.com", "modifiedProperties": []}]),
        graph_audit("2023-01-03T09:00:00Z", "Consent to application", "ApplicationManagement", "Assign", MALLORY,
                    sp_target("Mail Sync Tool", [
                        {"displayName": "ConsentContext.IsAdminConsent", "oldValue": None, "newValue": "\"True\""},
                        {"displayName": "ConsentAction.Permissions", "oldValue": None,
                         "newValue": "\"[] => [[Id: x, ClientId: y, PrincipalId: , ResourceId: z, ConsentType: AllPrincipals, Scope: Mail.Read offline_access]]\""}]),
                    details=[{"key": "User-Agent", "value": "Mozilla/5.0 (X11; Linux x86_64)"}]),
        graph_audit("2023-01-03T09:05:00Z", "Add delegated permission grant", "ApplicationManagement", "Assign", MALLORY,
                    sp_target("Microsoft Graph", [{"displayName": "DelegatedPermissionGrant.Scope", "oldValue": None, "newValue": "\"Mail.Read\""}])),
    ],
}

# ---- Entra ID Protection riskDetection (Graph page) -----------------------------------
def risk(t, etype, level, ip, country, upn, state="atRisk", timing="realtime"):
    return {
        "id": uid("risk", t, etype),
        "requestId": uid("req", t),
        "correlationId": uid("corr", t),
        "riskEventType": etype,
        "riskState": state,
        "riskLevel": level,
        "riskDetail": "none",
        "source": "IdentityProtection",
        "detectionTimingType": timing,
        "activity": "signin",
        "tokenIssuerType": "AzureAD",
        "ipAddress": ip,
        "location": None if not country else {"city": "Bucharest", "state": "Bucuresti", "countryOrRegion": country,
                                               "geoCoordinates": {"altitude": 0.0, "latitude": 44.43, "longitude": 26.1}},
        "activityDateTime": t,
        "detectedDateTime": t,
        "lastUpdatedDateTime": t,
        "userId": uid("user", upn),
        "userDisplayName": upn.split("@")[0].title(),
        "userPrincipalName": upn,
        "additionalInfo": "[{\"Key\":\"userAgent\",\"Value\":\"python-requests/2.28.1\"}]",
    }


risk_page = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identityProtection/riskDetections",
    "value": [
        risk("2022-12-07T12:00:00Z", "unfamiliarFeatures", "low", "192.0.2.44", "US", "alice@acme.onmicrosoft.com",
             state="dismissed"),
        risk("2023-01-03T08:40:00Z", "anonymizedIPAddress", "medium", MALLORY_IP, "RO", "mallory@acme.onmicrosoft.com"),
        risk("2023-01-04T00:00:00Z", "leakedCredentials", "high", "", None, "ci-bot@acme.onmicrosoft.com",
             timing="offline"),
    ],
}

# ---- Microsoft 365 unified audit log -------------------------------------------------
ORG = "1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516"


def exo_admin(t, op, user, params, ip, ok=True, obj=""):
    return {
        "CreationTime": t, "Id": uid("exo", t, op), "Operation": op, "OrganizationId": ORG, "RecordType": 1,
        "ResultStatus": "True" if ok else "False", "UserKey": uid("key", user), "UserType": 2, "Version": 1,
        "Workload": "Exchange", "ClientIP": ip, "ObjectId": obj, "UserId": user,
        "AppId": "", "ClientAppId": "", "ExternalAccess": False, "OrganizationName": "acme.onmicrosoft.com",
        "OriginatingServer": "AM6PR04MB1234 (15.20.5986.014)",
        "Parameters": [{"Name": k, "Value": v} for k, v in params],
        "SessionId": uid("session", user, t[:10]),
    }


def aad_ual(t, op, user, ip, ok=True):
    return {
        "CreationTime": t, "Id": uid("ual-aad", t, op), "Operation": op, "OrganizationId": ORG, "RecordType": 8,
        "ResultStatus": "Success" if ok else "Failure", "UserKey": "Not Available", "UserType": 4, "Version": 1,
        "Workload": "AzureActiveDirectory", "ObjectId": "build-deployer", "UserId": user, "ClientIP": ip,
        "AzureActiveDirectoryEventType": 1,
        "ExtendedProperties": [{"Name": "additionalDetails", "Value": "{}"}, {"Name": "extendedAuditEventCategory", "Value": "ServicePrincipal"}],
        "ModifiedProperties": [{"Name": "KeyDescription", "NewValue": "[\"[KeyIdentifier=5d6e7f80,KeyType=Password,KeyUsage=Verify,DisplayName=ci]\"]", "OldValue": "[]"}],
        "Actor": [{"ID": "build-deployer", "Type": 1}, {"ID": "ServicePrincipal_9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "Type": 2}],
        "ActorContextId": ORG, "InterSystemsId": uid("isid", t), "IntraSystemId": uid("intra", t),
        "SupportTicketId": "",
        "Target": [{"ID": "ServicePrincipal_2c4e6a8b-0d1f-4a3c-8e5b-7d9f1a3c5e7b", "Type": 2}, {"ID": "build-deployer", "Type": 1}],
        "TargetContextId": ORG,
    }


m365_records = [
    exo_admin("2022-12-08T10:00:00", "Set-Mailbox", "alice@acme.onmicrosoft.com",
              [("Identity", "bob@acme.onmicrosoft.com"), ("RetainDeletedItemsFor", "30")], "192.0.2.10:51000"),
    exo_admin("2023-01-03T09:10:00", "New-InboxRule", "mallory@acme.onmicrosoft.com",
              [("Name", "sync"), ("ForwardTo", "drop@evil.example"), ("MarkAsRead", "True"), ("StopProcessingRules", "True")],
              MALLORY_IP + ":53121", obj="mallory@acme.onmicrosoft.com\\sync"),
    exo_admin("2023-01-03T09:12:00", "Add-MailboxPermission", "mallory@acme.onmicrosoft.com",
              [("Identity", "cfo@acme.onmicrosoft.com"), ("User", "mallory@acme.onmicrosoft.com"), ("AccessRights", "FullAccess"),
               ("InheritanceType", "All")], MALLORY_IP + ":53122", obj="cfo@acme.onmicrosoft.com"),
    aad_ual("2023-01-02T10:15:01", "Add service principal credentials.", "ServicePrincipal_9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
            "203.0.113.7"),
]

# ---- Google Workspace Reports API activities ----------------------------------------
def gw(t, app, etype, name, params, email, ip, caller="USER"):
    return {
        "kind": "admin#reports#activity",
        "id": {"time": t, "uniqueQualifier": str(int(uid("gw", t, name).replace("-", "")[:15], 16)),
               "applicationName": app, "customerId": "C01abcd23"},
        "etag": "\"" + uid("etag", t)[:20] + "\"",
        "actor": {"callerType": caller, "email": email, "profileId": str(int(uid("profile", email).replace("-", "")[:12], 16))},
        "ipAddress": ip,
        "events": [{"type": etype, "name": name, "parameters": params}],
    }


gw_page = {
    "kind": "admin#reports#activities",
    "etag": "\"J3rk8Wk-Ry1Ojb-yV0mFhZ4Wd1s\"",
    "items": [
        gw("2022-12-09T15:00:00.000Z", "admin", "USER_SETTINGS", "CHANGE_PASSWORD",
           [{"name": "USER_EMAIL", "value": "bob@acme.example"}], "alice@acme.example", "192.0.2.10"),
        gw("2023-01-03T11:00:00.000Z", "admin", "DOMAIN_SETTINGS", "AUTHORIZE_API_CLIENT_ACCESS",
           [{"name": "API_CLIENT_NAME", "value": "104918239480231"},
            {"name": "API_SCOPES", "multiValue": ["https://www.googleapis.com/auth/gmail.readonly",
                                                  "https://www.googleapis.com/auth/admin.directory.user"]}],
           "ci-admin@acme.example", MALLORY_IP),
        gw("2023-01-03T11:05:00.000Z", "admin", "DELEGATED_ADMIN_SETTINGS", "ASSIGN_ROLE",
           [{"name": "ROLE_NAME", "value": "_SEED_ADMIN_ROLE"}, {"name": "USER_EMAIL", "value": "mallory@acme.example"}],
           "ci-admin@acme.example", MALLORY_IP),
        gw("2023-01-03T11:10:00.000Z", "token", "auth", "authorize",
           [{"name": "client_id", "value": "123456789012-abc.apps.googleusercontent.com"},
            {"name": "app_name", "value": "Mail Sync Tool"},
            {"name": "client_type", "value": "WEB"},
            {"name": "scope", "multiValue": ["https://mail.google.com/"]}],
           "mallory@acme.example", MALLORY_IP),
    ],
}

# ---- Okta System Log --------------------------------------------------------------------
def okta(t, etype, display, actor, ip, targets, result="SUCCESS", reason=None, legacy=None, ua="Mozilla/5.0 (X11; Linux x86_64) Chrome/108.0"):
    return {
        "actor": {"id": "00u" + uid("okta", actor)[:17].replace("-", ""), "type": "User", "alternateId": actor,
                  "displayName": actor.split("@")[0].title(), "detailEntry": None},
        "client": {"userAgent": {"rawUserAgent": ua, "os": "Linux", "browser": "CHROME"}, "zone": "null",
                   "device": "Computer", "id": None, "ipAddress": ip,
                   "geographicalContext": {"city": "Bucharest" if ip == MALLORY_IP else "Ashburn",
                                           "state": None, "country": "Romania" if ip == MALLORY_IP else "United States",
                                           "postalCode": None, "geolocation": {"lat": 44.43, "lon": 26.1}}},
        "device": None,
        "authenticationContext": {"authenticationProvider": None, "credentialProvider": None, "credentialType": None,
                                  "issuer": None, "interface": None, "authenticationStep": 0,
                                  "externalSessionId": "102" + uid("sess", actor, t[:10])[:20].replace("-", "")},
        "displayMessage": display,
        "eventType": etype,
        "outcome": {"result": result, "reason": reason},
        "published": t,
        "securityContext": {"asNumber": 64496, "asOrg": "example transit", "isp": "example isp", "domain": "example.net",
                            "isProxy": ip == MALLORY_IP},
        "severity": "INFO",
        "debugContext": {"debugData": {"requestId": uid("okreq", t)[:24], "requestUri": "/api/v1/" + etype.replace(".", "/"),
                                       "url": "/api/v1/" + etype.replace(".", "/") + "?"}},
        "legacyEventType": legacy,
        "transaction": {"type": "WEB", "id": uid("tx", t)[:24], "detail": {}},
        "uuid": uid("okta-event", t, etype),
        "version": "0",
        "request": {"ipChain": [{"ip": ip, "geographicalContext": None, "version": "V4", "source": None}]},
        "target": targets,
    }


okta_records = [
    okta("2022-12-10T08:00:00.000Z", "user.session.start", "User login to Okta", "alice@acme.example", "192.0.2.10", None,
         legacy="core.user_auth.login_success"),
    okta("2023-01-03T12:00:00.000Z", "system.api_token.create", "Create API token", "ci-admin@acme.example", MALLORY_IP,
         [{"id": "00T1a2b3c4d5e6f7g8h9", "type": "Token", "alternateId": "unknown", "displayName": "sync-token", "detailEntry": None}],
         legacy="api.token.create"),
    okta("2023-01-03T12:05:00.000Z", "user.mfa.factor.deactivate", "Reset factor for user", "ci-admin@acme.example", MALLORY_IP,
         [{"id": "00u5a6b7c8d9e0f1a2b3", "type": "User", "alternateId": "mallory@acme.example", "displayName": "Mallory", "detailEntry": None}],
         legacy="core.user.factor.deactivate"),
    okta("2023-01-03T12:10:00.000Z", "user.account.privilege.grant", "Grant user privilege", "ci-admin@acme.example", MALLORY_IP,
         [{"id": "00u5a6b7c8d9e0f1a2b3", "type": "User", "alternateId": "mallory@acme.example", "displayName": "Mallory", "detailEntry": None}],
         legacy="core.user.admin_privilege.granted"),
    okta("2023-01-03T12:11:00.000Z", "user.session.start", "User login to Okta", "mallory@acme.example", MALLORY_IP, None,
         result="FAILURE", reason="INVALID_CREDENTIALS", legacy="core.user_auth.login_failed"),
]


def dump(name, doc, lines=False):
    with open(os.path.join(OUT, name), "w") as f:
        if lines:
            for r in doc:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    dump("azure-audit.json", {"records": audit_records})
    dump("azure-audit-graph.json", graph_page)
    dump("azure-riskdetections.json", risk_page)
    dump("m365-audit.json", m365_records)
    dump("google-workspace-admin.json", gw_page)
    dump("okta-system-log.ndjson", okta_records, lines=True)
    print("wrote 6 files to", OUT, file=sys.stderr)
