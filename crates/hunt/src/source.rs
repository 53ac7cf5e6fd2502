//! Log sources: detection from content and the normalised event model.

use crate::node::Node;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A kind of audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(Default)]
pub enum SourceKind {
    /// AWS CloudTrail (`{"Records":[...]}`, gzip, NDJSON).
    #[default]
    Cloudtrail,
    /// GitHub organisation / enterprise audit log export (JSON array or NDJSON).
    Github,
    /// CircleCI audit log export (CSV with JSON columns).
    Circleci,
    /// GCP Cloud Audit Logs LogEntry (NDJSON or `gcloud logging read --format=json`).
    Gcp,
    /// Azure Entra ID sign-in logs (diagnostic settings export).
    AzureSignin,
    /// Azure activity log (diagnostic settings export).
    AzureActivity,
    /// firebreak's own token-service audit log (`firebreak serve`, JSON Lines).
    Firebreak,
    /// Entra ID (Azure AD) audit logs: diagnostic-settings export (`category: AuditLogs`)
    /// or Microsoft Graph `directoryAudit` objects.
    AzureAudit,
    /// Entra ID Protection risk detections: diagnostic-settings export
    /// (`category: UserRiskEvents`...) or Microsoft Graph `riskDetection` objects.
    AzureRisk,
    /// Microsoft 365 unified audit log (Management Activity API / audit search records).
    M365,
    /// Google Workspace Admin SDK Reports API activities (`admin#reports#activity`).
    GoogleWorkspace,
    /// Okta System Log events.
    Okta,
    /// Entra ID Privileged Identity Management alerts: Microsoft Graph
    /// `unifiedRoleManagementAlertIncident` objects (and the alerts themselves).
    AzurePim,
}

/// All kinds, in display order.
pub const ALL_SOURCES: [SourceKind; 13] = [
    SourceKind::Cloudtrail,
    SourceKind::Github,
    SourceKind::Circleci,
    SourceKind::Gcp,
    SourceKind::AzureSignin,
    SourceKind::AzureActivity,
    SourceKind::Firebreak,
    SourceKind::AzureAudit,
    SourceKind::AzureRisk,
    SourceKind::M365,
    SourceKind::GoogleWorkspace,
    SourceKind::Okta,
    SourceKind::AzurePim,
];

impl SourceKind {
    /// The `--source` name.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Cloudtrail => "cloudtrail",
            SourceKind::Github => "github",
            SourceKind::Circleci => "circleci",
            SourceKind::Gcp => "gcp",
            SourceKind::AzureSignin => "azure-signin",
            SourceKind::AzureActivity => "azure-activity",
            SourceKind::Firebreak => "firebreak",
            SourceKind::AzureAudit => "azure-audit",
            SourceKind::AzureRisk => "azure-risk",
            SourceKind::M365 => "m365",
            SourceKind::GoogleWorkspace => "google-workspace",
            SourceKind::Okta => "okta",
            SourceKind::AzurePim => "azure-pim",
        }
    }

    /// The Sigma logsource (product, service) this kind maps to.
    pub fn logsource(self) -> (&'static str, &'static str) {
        match self {
            SourceKind::Cloudtrail => ("aws", "cloudtrail"),
            SourceKind::Github => ("github", "audit"),
            SourceKind::Circleci => ("circleci", "audit"),
            SourceKind::Gcp => ("gcp", "gcp.audit"),
            SourceKind::AzureSignin => ("azure", "signinlogs"),
            SourceKind::AzureActivity => ("azure", "activitylogs"),
            SourceKind::Firebreak => ("firebreak", "serve-audit"),
            SourceKind::AzureAudit => ("azure", "auditlogs"),
            SourceKind::AzureRisk => ("azure", "riskdetection"),
            SourceKind::M365 => ("m365", "audit"),
            SourceKind::GoogleWorkspace => ("gcp", "google_workspace"),
            SourceKind::Okta => ("okta", "okta"),
            SourceKind::AzurePim => ("azure", "pim"),
        }
    }

    /// Maps a Sigma logsource to kinds. `None` when the logsource is not supported.
    pub fn from_logsource(product: Option<&str>, service: Option<&str>) -> Option<Vec<SourceKind>> {
        let p = product.map(|s| s.to_ascii_lowercase());
        let s = service.map(|s| s.to_ascii_lowercase());
        let out = match (p.as_deref(), s.as_deref()) {
            (Some("aws"), Some("cloudtrail") | None) => vec![SourceKind::Cloudtrail],
            (Some("github"), Some("audit") | None) => vec![SourceKind::Github],
            (Some("circleci"), Some("audit") | None) => vec![SourceKind::Circleci],
            (Some("gcp"), Some("gcp.audit") | None) => vec![SourceKind::Gcp],
            // Workspace activities: from the Reports API, or shared with Cloud Logging
            // (LogEntry records, read as `gcp`)
            (Some("gcp" | "google_workspace"), Some(w)) if w.starts_with("google_workspace") => {
                vec![SourceKind::GoogleWorkspace, SourceKind::Gcp]
            }
            (Some("google_workspace"), None) => vec![SourceKind::GoogleWorkspace],
            (Some("azure"), Some("signinlogs")) => vec![SourceKind::AzureSignin],
            (Some("azure"), Some("activitylogs")) => vec![SourceKind::AzureActivity],
            (Some("azure"), Some("auditlogs")) => vec![SourceKind::AzureAudit],
            (Some("azure"), Some("riskdetection")) => vec![SourceKind::AzureRisk],
            // SigmaHQ's PIM alert rules (`rolemanagementalerts` in their first versions)
            (Some("azure"), Some("pim" | "rolemanagementalerts")) => vec![SourceKind::AzurePim],
            (Some("azure"), None) => vec![
                SourceKind::AzureSignin,
                SourceKind::AzureActivity,
                SourceKind::AzureAudit,
                SourceKind::AzureRisk,
                SourceKind::AzurePim,
            ],
            (Some("m365"), Some("audit" | "threat_management" | "exchange") | None) => vec![SourceKind::M365],
            (Some("okta") | None, Some("okta")) | (Some("okta"), None) => vec![SourceKind::Okta],
            (Some("firebreak"), Some("serve-audit") | None) => vec![SourceKind::Firebreak],
            _ => return None,
        };
        Some(out)
    }

    /// Guesses the kind of a record from its fields.
    pub fn detect(n: &Node) -> Option<SourceKind> {
        let has = |k: &str| n.get(k).is_some();
        if has("eventVersion") || (has("eventSource") && has("eventName")) {
            return Some(SourceKind::Cloudtrail);
        }
        if has("protoPayload")
            || n.get("logName")
                .and_then(|v| v.scalar_str())
                .is_some_and(|s| s.contains("cloudaudit"))
        {
            return Some(SourceKind::Gcp);
        }
        if has("resourceId") || (has("operationName") && has("category")) {
            let cat = n.path_str("category").unwrap_or_default().to_ascii_lowercase();
            let op = n
                .path_str("operationName")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if cat.contains("signinlogs") || op == "sign-in activity" {
                return Some(SourceKind::AzureSignin);
            }
            if cat == "auditlogs" {
                return Some(SourceKind::AzureAudit);
            }
            if cat.contains("risk") {
                return Some(SourceKind::AzureRisk);
            }
            return Some(SourceKind::AzureActivity);
        }
        // Microsoft Graph objects (`{"value":[...]}` pages)
        if has("activityDisplayName") && has("initiatedBy") {
            return Some(SourceKind::AzureAudit);
        }
        // PIM alert incidents (a derived type of unifiedRoleManagementAlertIncident) and alerts
        if n.get("@odata.type")
            .and_then(|t| t.scalar_str())
            .is_some_and(|t| t.starts_with("#microsoft.graph.") && t.ends_with("AlertIncident"))
            || (has("alertDefinitionId") && has("scopeType"))
        {
            return Some(SourceKind::AzurePim);
        }
        if has("riskEventType") && (has("detectedDateTime") || has("activityDateTime")) {
            return Some(SourceKind::AzureRisk);
        }
        if has("Workload") && has("Operation") && has("CreationTime") {
            return Some(SourceKind::M365);
        }
        if n.path_str("kind")
            .is_some_and(|k| k.starts_with("admin#reports#activity"))
            || (n.path("id.applicationName").is_some() && has("events"))
        {
            return Some(SourceKind::GoogleWorkspace);
        }
        if has("eventType") && has("published") && (has("uuid") || has("actor")) {
            return Some(SourceKind::Okta);
        }
        if has("action") && has("outcome") && has("time") {
            return Some(SourceKind::Firebreak);
        }
        if has("action") && (has("@timestamp") || has("created_at")) {
            return Some(SourceKind::Github);
        }
        if has("action") && has("occurred_at") {
            return Some(SourceKind::Circleci);
        }
        None
    }

    /// Top-level members the normaliser reads (always materialised).
    pub fn normaliser_keys(self) -> &'static [&'static str] {
        match self {
            SourceKind::Cloudtrail => &[
                "eventTime",
                "eventSource",
                "eventName",
                "userIdentity",
                "sourceIPAddress",
                "userAgent",
                "errorCode",
                "eventID",
                "requestParameters",
                "awsRegion",
            ],
            SourceKind::Github => &[
                "@timestamp",
                "created_at",
                "actor",
                "action",
                "repo",
                "org",
                "user",
                "actor_ip",
                "user_agent",
                "actor_location",
                "_document_id",
                "programmatic_access_type",
                "operation_type",
            ],
            SourceKind::Circleci => &[
                "id",
                "action",
                "actor",
                "target",
                "occurred_at",
                "request",
                "success",
                "scope",
            ],
            SourceKind::Gcp => &["timestamp", "protoPayload", "insertId", "severity"],
            SourceKind::AzureSignin | SourceKind::AzureActivity => &[
                "time",
                "operationName",
                "resourceId",
                "resultType",
                "callerIpAddress",
                "correlationId",
                "identity",
                "properties",
                "caller",
                "location",
            ],
            SourceKind::Firebreak => &[
                "time",
                "action",
                "outcome",
                "reason",
                "actor",
                "project",
                "provider",
                "token_id",
                "client_ip",
                "user_agent",
                "request_id",
            ],
            SourceKind::AzureAudit => &[
                "time",
                "operationName",
                "resultType",
                "callerIpAddress",
                "correlationId",
                "identity",
                "properties",
                "id",
                "activityDateTime",
                "activityDisplayName",
                "initiatedBy",
                "targetResources",
                "result",
                "resultReason",
            ],
            SourceKind::AzureRisk => &[
                "time",
                "properties",
                "id",
                "activityDateTime",
                "detectedDateTime",
                "riskEventType",
                "riskState",
                "riskLevel",
                "ipAddress",
                "location",
                "userPrincipalName",
                "userDisplayName",
                "userId",
            ],
            SourceKind::M365 => &[
                "CreationTime",
                "Id",
                "Operation",
                "Workload",
                "ResultStatus",
                "UserId",
                "UserType",
                "ClientIP",
                "ActorIpAddress",
                "ObjectId",
                "ClientInfoString",
            ],
            SourceKind::GoogleWorkspace => &["id", "actor", "ipAddress", "events"],
            SourceKind::Okta => &[
                "uuid",
                "published",
                "eventType",
                "actor",
                "client",
                "outcome",
                "target",
            ],
            SourceKind::AzurePim => &[
                "@odata.type",
                "id",
                "riskEventType",
                "assigneeUserPrincipalName",
                "assigneeDisplayName",
                "assigneeId",
                "roleDisplayName",
                "alertDefinitionId",
                "lastScannedDateTime",
            ],
        }
    }

    /// The record's time field as written (None when absent).
    pub fn time_node<'s, 'a>(self, n: &'s Node<'a>) -> Option<&'s Node<'a>> {
        let f = match self {
            SourceKind::Cloudtrail => n.get("eventTime"),
            SourceKind::Github => n.get("@timestamp").or_else(|| n.get("created_at")),
            SourceKind::Circleci => n.get("occurred_at"),
            SourceKind::Gcp => n.get("timestamp"),
            SourceKind::AzureSignin | SourceKind::AzureActivity | SourceKind::Firebreak => n.get("time"),
            SourceKind::AzureAudit => n.get("time").or_else(|| n.get("activityDateTime")),
            SourceKind::AzureRisk => n
                .get("time")
                .or_else(|| n.get("detectedDateTime"))
                .or_else(|| n.get("activityDateTime")),
            SourceKind::M365 => n.get("CreationTime"),
            SourceKind::GoogleWorkspace => n.get("id").and_then(|i| i.get("time")),
            SourceKind::Okta => n.get("published"),
            // alerts carry when they were last scanned; incidents have no time of their own
            SourceKind::AzurePim => n.get("lastScannedDateTime"),
        };
        f.filter(|v| !matches!(v, Node::Null))
    }

    /// True when the source's records are state, not events: a record without a time
    /// (a PIM alert incident) is matched whatever the `--window`, its findings have no time.
    pub fn timeless(self) -> bool {
        self == SourceKind::AzurePim
    }

    /// Fields a source's records are given when they lack them, derived from others, so
    /// that the names SigmaHQ's rules use hold a value: PIM alert incidents get
    /// `riskEventType`, their Graph type without its namespace (`@odata.type`
    /// `#microsoft.graph.staleSignInAlertIncident` -> `staleSignInAlertIncident`).
    pub fn derive<'a>(self, n: &mut Node<'a>) {
        if self != SourceKind::AzurePim || n.get("riskEventType").is_some() {
            return;
        }
        let t = match n.get("@odata.type") {
            Some(Node::Str(t)) => t.strip_prefix("#microsoft.graph.").unwrap_or(t).to_string(),
            _ => return,
        };
        if let Node::Obj(m) = n {
            m.push((
                std::borrow::Cow::Borrowed("riskEventType"),
                Node::Str(std::borrow::Cow::Owned(t)),
            ));
        }
    }

    /// The record's time, when it has a readable one.
    pub fn event_time(self, n: &Node) -> Option<DateTime<Utc>> {
        self.time_node(n).and_then(time_of)
    }

    /// Builds the normalised event of a record.
    pub fn normalise(self, n: &Node, time: Option<DateTime<Utc>>) -> Event {
        let s = |p: &str| n.path_str(p).map(|c| c.into_owned()).filter(|v| !v.is_empty());
        let mut e = Event {
            time,
            source: self,
            ..Event::default()
        };
        match self {
            SourceKind::Cloudtrail => {
                e.actor = s("userIdentity.arn")
                    .or_else(|| s("userIdentity.userName"))
                    .or_else(|| s("userIdentity.principalId"))
                    .or_else(|| s("userIdentity.invokedBy"));
                e.actor_type = s("userIdentity.type");
                let svc = s("eventSource").unwrap_or_default();
                let svc = svc.strip_suffix(".amazonaws.com").unwrap_or(&svc).to_string();
                e.action = s("eventName").map(|a| if svc.is_empty() { a } else { format!("{svc}:{a}") });
                e.target = s("requestParameters.bucketName")
                    .or_else(|| s("requestParameters.userName"))
                    .or_else(|| s("requestParameters.roleName"))
                    .or_else(|| s("requestParameters.name"))
                    .or_else(|| s("requestParameters.secretId"));
                e.source_ip = s("sourceIPAddress");
                e.user_agent = s("userAgent");
                e.error_code = s("errorCode");
                e.outcome = Some(
                    if e.error_code.is_some() {
                        "failure"
                    } else {
                        "success"
                    }
                    .into(),
                );
                e.region = s("awsRegion");
                e.event_id = s("eventID");
            }
            SourceKind::Github => {
                e.actor = s("actor");
                e.actor_type = s("programmatic_access_type").or_else(|| {
                    e.actor.as_ref().map(|a| {
                        if a.ends_with("[bot]") {
                            "bot".into()
                        } else {
                            "user".into()
                        }
                    })
                });
                e.action = s("action");
                e.target = s("repo").or_else(|| s("user")).or_else(|| s("org"));
                e.source_ip = s("actor_ip");
                e.user_agent = s("user_agent");
                e.location = s("actor_location.country_code");
                let failed = e.action.as_deref().is_some_and(|a| a.contains("fail"));
                e.outcome = Some(if failed { "failure" } else { "success" }.into());
                e.event_id = s("_document_id");
            }
            SourceKind::Circleci => {
                e.actor = s("actor.name").or_else(|| s("actor.id"));
                e.actor_type = s("actor.type");
                e.action = s("action");
                e.target = s("target.name").or_else(|| s("target.id"));
                e.source_ip = s("request.ip_address").or_else(|| s("request.ip"));
                e.user_agent = s("request.user_agent");
                e.outcome = s("success").map(|v| {
                    if v == "true" {
                        "success".into()
                    } else {
                        "failure".into()
                    }
                });
                e.event_id = s("id");
            }
            SourceKind::Gcp => {
                e.actor = s("protoPayload.authenticationInfo.principalEmail");
                e.actor_type = e.actor.as_ref().map(|a| {
                    if a.ends_with(".gserviceaccount.com") {
                        "serviceAccount"
                    } else {
                        "user"
                    }
                    .into()
                });
                e.action = s("protoPayload.methodName");
                e.target = s("protoPayload.resourceName");
                e.source_ip = s("protoPayload.requestMetadata.callerIp");
                e.user_agent = s("protoPayload.requestMetadata.callerSuppliedUserAgent");
                let code = s("protoPayload.status.code").filter(|c| c != "0");
                e.outcome = Some(if code.is_some() { "failure" } else { "success" }.into());
                e.error_code = code;
                e.event_id = s("insertId");
            }
            SourceKind::AzureSignin => {
                e.actor = s("properties.userPrincipalName").or_else(|| s("identity"));
                e.actor_type = s("properties.userType").or_else(|| Some("user".into()));
                e.action = s("operationName");
                e.target = s("properties.appDisplayName").or_else(|| s("properties.resourceDisplayName"));
                e.source_ip = s("callerIpAddress").or_else(|| s("properties.ipAddress"));
                e.user_agent = s("properties.userAgent");
                let rt = s("resultType").or_else(|| s("properties.status.errorCode"));
                e.outcome = Some(
                    if rt.as_deref().is_none_or(|r| r == "0") {
                        "success"
                    } else {
                        "failure"
                    }
                    .into(),
                );
                e.error_code = rt.filter(|r| r != "0");
                e.location = s("properties.location.countryOrRegion");
                e.event_id = s("properties.id").or_else(|| s("correlationId"));
            }
            SourceKind::AzureActivity => {
                e.actor = s("caller")
                    .or_else(|| {
                        s("identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
                    })
                    .or_else(|| s("identity.claims.name"))
                    .or_else(|| s("identity.claims.appid"));
                e.actor_type = Some(
                    if e.actor.as_deref().is_some_and(|a| a.contains('@')) {
                        "user"
                    } else {
                        "app"
                    }
                    .into(),
                );
                e.action = s("operationName");
                e.target = s("resourceId");
                e.source_ip = s("callerIpAddress");
                let rt = s("resultType");
                e.outcome = rt.as_deref().map(|r| {
                    if r.eq_ignore_ascii_case("failure") {
                        "failure"
                    } else {
                        "success"
                    }
                    .into()
                });
                e.error_code = rt
                    .filter(|r| r.eq_ignore_ascii_case("failure"))
                    .and_then(|_| s("resultSignature"));
                e.region = s("location");
                e.event_id = s("correlationId");
            }
            SourceKind::Firebreak => {
                e.actor = s("actor");
                e.actor_type = s("provider")
                    .map(|p| format!("{p}-oidc"))
                    .or_else(|| Some("token".into()));
                e.action = s("action");
                e.target = s("project").or_else(|| s("token_id"));
                e.source_ip = s("client_ip");
                e.user_agent = s("user_agent");
                e.outcome = s("outcome");
                e.error_code = s("reason").filter(|_| e.outcome.as_deref() == Some("denied"));
                e.event_id = s("request_id");
            }
            SourceKind::AzureAudit => {
                // diagnostic export (`properties.*`) or Graph directoryAudit (top level)
                let p = |k: &str| s(&format!("properties.{k}")).or_else(|| s(k));
                e.actor = p("initiatedBy.user.userPrincipalName")
                    .or_else(|| p("initiatedBy.app.displayName"))
                    .or_else(|| p("initiatedBy.app.servicePrincipalName"))
                    .or_else(|| p("initiatedBy.app.appId"));
                e.actor_type = Some(
                    if p("initiatedBy.user.userPrincipalName").is_some() {
                        "user"
                    } else {
                        "app"
                    }
                    .into(),
                );
                e.action = p("activityDisplayName").or_else(|| s("operationName"));
                e.target =
                    p("targetResources.displayName").or_else(|| p("targetResources.userPrincipalName"));
                e.source_ip = p("initiatedBy.user.ipAddress")
                    .or_else(|| p("initiatedBy.app.ipAddress"))
                    .or_else(|| s("callerIpAddress"));
                e.user_agent = p("userAgent");
                let r = p("result").map(|r| r.to_ascii_lowercase());
                e.outcome = r.as_deref().map(|r| {
                    if r == "success" {
                        "success".into()
                    } else {
                        "failure".into()
                    }
                });
                e.error_code = p("resultReason").filter(|_| e.outcome.as_deref() == Some("failure"));
                e.event_id = p("id").or_else(|| s("correlationId"));
            }
            SourceKind::AzureRisk => {
                let p = |k: &str| s(&format!("properties.{k}")).or_else(|| s(k));
                e.actor = p("userPrincipalName")
                    .or_else(|| p("userDisplayName"))
                    .or_else(|| p("userId"));
                e.actor_type = Some("user".into());
                e.action = p("riskEventType");
                e.target = p("riskLevel").map(|l| format!("risk level {l}"));
                e.source_ip = p("ipAddress");
                e.outcome = p("riskState");
                e.location = p("location.countryOrRegion");
                e.event_id = p("id");
            }
            SourceKind::M365 => {
                e.actor = s("UserId");
                e.actor_type = s("UserType");
                e.action = s("Operation");
                e.target = s("ObjectId");
                e.source_ip = s("ClientIP")
                    .or_else(|| s("ActorIpAddress"))
                    .map(|ip| strip_port(&ip));
                e.user_agent = s("ClientInfoString");
                e.outcome = s("ResultStatus").map(|r| match r.to_ascii_lowercase().as_str() {
                    "succeeded" | "success" | "true" | "partiallysucceeded" => "success".into(),
                    "failed" | "failure" | "false" => "failure".into(),
                    other => other.to_string(),
                });
                e.event_id = s("Id");
            }
            SourceKind::GoogleWorkspace => {
                e.actor = s("actor.email")
                    .or_else(|| s("actor.key"))
                    .or_else(|| s("actor.profileId"));
                e.actor_type = s("actor.callerType").or_else(|| Some("USER".into()));
                let app = s("id.applicationName").unwrap_or_default();
                e.action = s("events.name").map(|a| if app.is_empty() { a } else { format!("{app}:{a}") });
                e.target = workspace_target(n);
                e.source_ip = s("ipAddress");
                let failed = e
                    .action
                    .as_deref()
                    .is_some_and(|a| a.to_ascii_lowercase().contains("failure"));
                e.outcome = Some(if failed { "failure" } else { "success" }.into());
                e.event_id = s("id.uniqueQualifier");
            }
            SourceKind::Okta => {
                e.actor = s("actor.alternateId")
                    .or_else(|| s("actor.displayName"))
                    .or_else(|| s("actor.id"));
                e.actor_type = s("actor.type");
                e.action = s("eventType");
                // tokens and some other targets have `alternateId: "unknown"`
                e.target = s("target.alternateId")
                    .filter(|t| t != "unknown")
                    .or_else(|| s("target.displayName"));
                e.source_ip = s("client.ipAddress");
                e.user_agent = s("client.userAgent.rawUserAgent");
                e.outcome = s("outcome.result").map(|r| match r.to_ascii_uppercase().as_str() {
                    "SUCCESS" | "ALLOW" => "success".into(),
                    "FAILURE" | "DENY" => "failure".into(),
                    other => other.to_ascii_lowercase(),
                });
                e.error_code = s("outcome.reason").filter(|_| e.outcome.as_deref() == Some("failure"));
                e.location = s("client.geographicalContext.country");
                e.event_id = s("uuid");
            }
            SourceKind::AzurePim => {
                e.actor = s("assigneeUserPrincipalName")
                    .or_else(|| s("assigneeDisplayName"))
                    .or_else(|| s("assigneeId"));
                e.actor_type = e.actor.as_ref().map(|_| "user".into());
                e.action = s("riskEventType").or_else(|| {
                    s("alertDefinitionId").map(|d| d.rsplit('_').next().unwrap_or_default().to_string())
                });
                e.target = s("roleDisplayName");
                e.event_id = s("id");
            }
        }
        e
    }
}

/// `203.0.113.7:51234` -> `203.0.113.7`, `[2001:db8::1]:443` -> `2001:db8::1` (the unified
/// audit log writes client addresses with their port); anything else as it is.
fn strip_port(ip: &str) -> String {
    if let Some(rest) = ip.strip_prefix('[') {
        if let Some((a, _)) = rest.split_once(']') {
            return a.to_string();
        }
    }
    match ip.rsplit_once(':') {
        Some((a, p)) if !a.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => a.to_string(),
        _ => ip.to_string(),
    }
}

/// What a Workspace activity acted on: the first parameter of its first event naming a
/// user, an API client, an application, a role or a document.
fn workspace_target(n: &Node) -> Option<String> {
    const NAMES: [&str; 7] = [
        "USER_EMAIL",
        "API_CLIENT_NAME",
        "APP_NAME",
        "app_name",
        "ROLE_NAME",
        "doc_title",
        "DOMAIN_NAME",
    ];
    let Some(Node::Arr(events)) = n.get("events") else {
        return None;
    };
    let Some(Node::Arr(params)) = events.first().and_then(|e| e.get("parameters")) else {
        return None;
    };
    NAMES.iter().find_map(|want| {
        params.iter().find_map(|p| {
            (p.get("name").and_then(|x| x.scalar_str()).as_deref() == Some(*want))
                .then(|| {
                    p.get("value")
                        .and_then(|v| v.scalar_str())
                        .map(|v| v.into_owned())
                })
                .flatten()
        })
    })
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ALL_SOURCES
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ALL_SOURCES.iter().map(|k| k.name()).collect();
                format!(
                    "unknown source {}; one of {}",
                    firebreak_core::secret::quote_untrusted(s),
                    names.join(", ")
                )
            })
    }
}

/// Reads a time: RFC 3339 strings (with or without offset, `Z` assumed), epoch seconds or
/// milliseconds (numbers or numeric strings), `YYYY-MM-DD HH:MM:SS[.fff] UTC` as CircleCI writes.
pub fn time_of(n: &Node) -> Option<DateTime<Utc>> {
    match n {
        Node::Int(_) | Node::UInt(_) | Node::Float(_) => epoch(n.as_f64()?),
        Node::Str(s) => parse_time_str(s),
        _ => None,
    }
}

fn epoch(x: f64) -> Option<DateTime<Utc>> {
    let ms = if x > 1e11 { x } else { x * 1000.0 };
    Utc.timestamp_millis_opt(ms as i64).single()
}

/// Parses a time string in the formats [`time_of`] accepts.
pub fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(t.parse().ok()?);
    }
    let t2 = t.strip_suffix(" UTC").unwrap_or(t).replace(' ', "T");
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(nd) = chrono::NaiveDateTime::parse_from_str(&t2, fmt) {
            return Some(nd.and_utc());
        }
    }
    None
}

/// The normalised view of one audit record, with a pointer back to the raw record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (UTC).
    pub time: Option<DateTime<Utc>>,
    /// Which log it came from.
    pub source: SourceKind,
    /// Who did it (ARN, login, e-mail, UPN).
    pub actor: Option<String>,
    /// Kind of identity (IAMUser, AssumedRole, serviceAccount, user, bot...).
    pub actor_type: Option<String>,
    /// What was done (`iam:CreateAccessKey`, `git.clone`, `user.logged_in`...).
    pub action: Option<String>,
    /// What it was done to (bucket, repository, project, resource name).
    pub target: Option<String>,
    /// Caller IP address (or the service name AWS records for internal calls).
    pub source_ip: Option<String>,
    /// Caller user agent.
    pub user_agent: Option<String>,
    /// `success` / `failure` (`allowed` / `denied` for firebreak's own log).
    pub outcome: Option<String>,
    /// Error code when it failed (`AccessDenied`, `7`, `50126`...).
    pub error_code: Option<String>,
    /// Country where the log records one.
    pub location: Option<String>,
    /// Cloud region where the log records one.
    pub region: Option<String>,
    /// The provider's id for the record (CloudTrail eventID, GCP insertId...).
    pub event_id: Option<String>,
    /// File the record was read from.
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based index of the record in its file.
    pub record: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time_str("2023-01-04T12:00:00Z").unwrap();
        assert_eq!(parse_time_str("1672833600000").unwrap(), t);
        assert_eq!(parse_time_str("2023-01-04 12:00:00.000 UTC").unwrap(), t);
        assert_eq!(time_of(&Node::Int(1672833600000)).unwrap(), t);
        assert_eq!(time_of(&Node::Int(1672833600)).unwrap(), t);
    }

    #[test]
    fn logsources() {
        assert_eq!(
            SourceKind::from_logsource(Some("aws"), Some("cloudtrail")),
            Some(vec![SourceKind::Cloudtrail])
        );
        assert_eq!(SourceKind::from_logsource(Some("windows"), None), None);
        assert_eq!(
            SourceKind::from_logsource(None, Some("okta")),
            Some(vec![SourceKind::Okta])
        );
        assert_eq!(
            SourceKind::from_logsource(Some("gcp"), Some("google_workspace.admin")),
            Some(vec![SourceKind::GoogleWorkspace, SourceKind::Gcp])
        );
        assert_eq!(
            SourceKind::from_logsource(Some("m365"), Some("threat_management")),
            Some(vec![SourceKind::M365])
        );
        assert_eq!(strip_port("203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
        assert_eq!("azure-signin".parse::<SourceKind>(), Ok(SourceKind::AzureSignin));
    }
}
