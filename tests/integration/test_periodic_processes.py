"""The periodic processes (SLA review, service report, capacity review, continuity test,
security risk review, budget review, satisfaction survey, supplier review, internal audit,
management review): every path to its review record, every form's refusal of bad data, the
risk-level decision table row by row, and the schedules their timer start events set.

Paths and form checks share one orchestrator per database for the whole module (the library
is deployed once, each test starts its own instances): deploying the whole library for each of
these ~140 tests would take minutes. The schedule test uses the ordinary ``orchestrator``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from engine.access import SYSTEM, Actor
from engine.clock import ManualClock
from engine.errors import FormInvalid
from engine.orchestrator import Orchestrator
from storage.models import AuditEvent
from tests.integration.conftest import LIBRARY, notifications

# The periodic processes of this module: key -> the timer cycle of its start event.
CYCLES = {
    "sla_review": "R/2027-01-04T08:00:00+00:00/P1M",
    "service_report": "R/2027-01-05T08:00:00+00:00/P1M",
    "capacity_review": "R/2027-01-11T08:00:00+00:00/P3M",
    "continuity_test": "R/2027-03-01T08:00:00+00:00/P6M",
    "security_risk_review": "R/2027-01-18T08:00:00+00:00/P3M",
    "budget_review": "R/2027-01-12T08:00:00+00:00/P3M",
    "satisfaction_survey": "R/2027-02-01T08:00:00+00:00/P6M",
    "supplier_review": "R/2027-01-19T08:00:00+00:00/P3M",
    "internal_audit": "R/2027-02-15T08:00:00+00:00/P6M",
    "management_review": "R/2027-03-15T08:00:00+00:00/P1Y",
}
# key -> (title of the review, before its date; the first task)
PROCESSES = {
    "sla_review": ("SLA review", "Collect SLA performance"),
    "service_report": ("Service report", "Compile service report"),
    "capacity_review": ("Capacity review", "Record demand and capacity"),
    "continuity_test": ("Continuity test", "Review availability"),
    "security_risk_review": ("Information security risk review",
                             "Assess information security risks"),
    "budget_review": ("Budget review", "Record actual costs"),
    "satisfaction_survey": ("Customer satisfaction survey", "Prepare survey"),
    "supplier_review": ("Supplier review", "Assess supplier performance"),
    "internal_audit": ("Internal audit", "Plan audit"),
    "management_review": ("Management review", "Compile review inputs"),
}
OWNERS = {
    "sla_review": "Service Level Manager",
    "service_report": "Service Level Manager",
    "capacity_review": "Capacity Manager",
    "continuity_test": "Continuity Manager",
    "security_risk_review": "Information Security Manager",
    "budget_review": "Finance Manager",
    "satisfaction_survey": "Business Relationship Manager",
    "supplier_review": "Supplier Manager",
    "internal_audit": "Quality Manager",
    "management_review": "Top Management",
}
TODAY = "2030-01-07"  # the date of the ``clock`` fixture


# --------------------------------------------------------------------------- form data

ACTION = {"action": "Monitor storage controller latency", "owner": "Storage team",
          "due_date": "2030-02-28"}

# Canonical, valid data for every user task, by (process, task title); paths override parts.
FORMS: dict[tuple[str, str], dict[str, Any]] = {
    # --- SLA review
    ("sla_review", "Collect SLA performance"): {
        "period": "2029-12",
        "sla_results": [
            {"service": "Email", "measure": "Availability (%)", "target": 99.5,
             "achieved": 99.7, "met": True},
            {"service": "Service desk", "measure": "P1 resolved within 4 h (%)", "target": 95,
             "achieved": 96.5, "met": True},
        ],
        "data_sources": "Monitoring (availability), service desk tool (resolution times)",
    },
    ("sla_review", "Investigate missed targets"): {
        "investigations": [{
            "service": "Email", "cause": "Storage controller firmware bug caused two outages",
            "corrective_action": "Firmware upgraded; controller latency is now monitored",
            "recurring": True, "problem_reference": "PRB-000017"}],
    },
    ("sla_review", "Review with customer"): {
        "meeting_date": "2030-01-10",
        "customer_representatives": "Ann Berg (sales operations)",
        "customer_feedback": "Satisfied overall; the mail outages hurt the month-end close.",
        "sla_changes_agreed": False,
    },
    ("sla_review", "Record SLA review"): {
        "findings": "Email availability is fragile around storage maintenance.",
        "actions": [ACTION],
        "decisions": "Keep the targets; review the storage design next quarter.",
    },
    # --- service report
    ("service_report", "Compile service report"): {
        "period": "2029-12",
        "purpose": "Show the customer board how the services performed against the SLA",
        "audience": "Customer service board",
        "data_sources": "Service desk tool, monitoring, satisfaction survey",
        "performance": [
            {"service": "Email", "measure": "Availability (%)", "target": 99.5,
             "actual": 99.7, "met": True},
            {"service": "ERP", "measure": "Availability (%)", "target": 99.0,
             "actual": 98.6, "met": False},
        ],
        "significant_events": "Major incident INC-000812: ERP down for 3 hours on 12 December",
        "workload": {"incidents": 412, "service_requests": 1290, "changes": 37,
                     "problems": 4},
        "trends": "Incidents down 8 % on November; requests up with year-end onboarding.",
        "satisfaction_score": 4.2,
        "distribution_list": "service-board@example.com",
    },
    ("service_report", "Approve service report"): {"approved": True},
    ("service_report", "Record report review"): {
        "findings": "ERP availability missed its target because of one major incident.",
        "actions": [ACTION],
        "decisions": "Report ERP availability weekly until it is back on target.",
    },
    # --- capacity review
    ("capacity_review", "Record demand and capacity"): {
        "forecast_horizon_months": 12,
        "demand_drivers": "Two new subsidiaries join the mail service in spring.",
        "resources": [
            {"resource": "Mail storage cluster", "service": "Email", "unit": "TB",
             "capacity": 100, "current_usage": 55, "forecast_usage": 70,
             "threshold_percent": 80},
            {"resource": "WAN link Frankfurt", "service": "ERP", "unit": "Mbit/s",
             "capacity": 1000, "current_usage": 450, "forecast_usage": 600,
             "threshold_percent": 75},
        ],
    },
    ("capacity_review", "Plan upgrades"): {
        "upgrades": [
            {"resource": "Mail storage cluster", "action": "Add a 40 TB storage shelf",
             "lead_time_days": 45, "cost": 18500, "needed_by": "2030-06-30"},
            {"resource": "Mail storage cluster", "action": "Extend the backup licence by 40 TB",
             "lead_time_days": 10, "cost": 2400.5, "needed_by": "2030-06-30"},
        ],
        "currency": "EUR",
        "alternatives": "Archiving mailboxes of leavers frees 6 TB only.",
    },
    ("capacity_review", "Approve upgrade plan"): {
        "upgrade_plan_approved": True, "budget_reference": "CC-4711 infrastructure"},
    ("capacity_review", "Record capacity review"): {
        "findings": "Mail storage will pass its threshold by summer.",
        "actions": [ACTION],
        "decisions": "Order the storage shelf in February.",
    },
    # --- continuity test
    ("continuity_test", "Review availability"): {
        "period": "2029 H2",
        "availability_results": [
            {"service": "Email", "target_percent": 99.5, "achieved_percent": 99.62,
             "unplanned_outages": 1, "met": True},
            {"service": "ERP", "target_percent": 99.0, "achieved_percent": 98.7,
             "unplanned_outages": 3, "met": False},
        ],
        "outage_investigations": "ERP outages: database failover misconfigured (PRB-000021).",
        "risks_reassessed": True,
        "requirements_changed": False,
    },
    ("continuity_test", "Plan continuity test"): {
        "scenario": "Loss of the primary data centre in Frankfurt",
        "test_type": "partial failover",
        "services_in_scope": ["Email", "ERP"],
        "rto_minutes": 240,
        "rpo_minutes": 15,
        "planned_date": "2030-01-20",
        "participants": "Infrastructure, ERP and mail teams; continuity manager",
    },
    ("continuity_test", "Run continuity test"): {
        "test_date": "2030-01-20",
        "recovery_time_minutes": 185,
        "data_loss_minutes": 5,
        "all_services_recovered": True,
        "observations": "Runbook step 14 (DNS switch) was out of date; fixed during the test.",
    },
    ("continuity_test", "Define remediation actions"): {
        "remediation_actions": [{"action": "Automate the ERP database failover",
                                 "owner": "ERP team", "due_date": "2030-04-30"}],
        "plan_changes": "Add the automated failover to the recovery runbook.",
        "retest_required": True,
    },
    ("continuity_test", "Write test report"): {
        "findings": "Recovery works; the runbook needed one correction.",
        "actions": [ACTION],
        "decisions": "Next test: full failover in the second half of the year.",
        "plan_updated": True,
    },
    # --- information security risk review
    ("security_risk_review", "Assess information security risks"): {
        "scope": "Customer-facing services and the data centre in Frankfurt",
        "risks": [
            {"risk": "Ransomware on the file servers", "asset": "File shares",
             "threat": "Encryption through a phished administrator account",
             "likelihood": 3, "impact": 5, "risk_owner": "Head of infrastructure"},
            {"risk": "Phishing of staff", "asset": "Mailboxes",
             "threat": "Credential theft by phishing mails", "likelihood": 4, "impact": 2,
             "risk_owner": "Information Security Manager"},
            {"risk": "Laptop theft", "asset": "Laptops", "threat": "Theft while travelling",
             "likelihood": 2, "impact": 2, "risk_owner": "Workplace services"},
        ],
    },
    ("security_risk_review", "Decide controls"): {
        "controls": [{"risk": "Ransomware on the file servers", "option": "modify",
                      "control": "Immutable offline backups (ISO/IEC 27001 A.8.13)",
                      "owner": "Head of infrastructure", "due_date": "2030-03-31"}],
    },
    ("security_risk_review", "Confirm security policy"): {
        "policy_version": "3.2", "policy_still_approved": True},
    ("security_risk_review", "Plan policy revision"): {
        "revision_summary": "Add a chapter on cloud services and supplier access.",
        "revision_owner": "Information Security Manager",
        "revision_due": "2030-03-31",
        "change_reference": "CHG-000231",
    },
    ("security_risk_review", "Record risk review"): {
        "findings": "Ransomware is the highest risk; backups are not immutable yet.",
        "actions": [ACTION],
        "decisions": "Fund immutable backups this quarter.",
        "residual_risks_accepted": True,
    },
    # --- budget review
    ("budget_review", "Record actual costs"): {
        "period": "2029 Q4",
        "currency": "EUR",
        "variance_threshold_percent": 10,
        "lines": [
            {"service": "Email", "budget": 120000, "actual": 126000},
            {"service": "Service desk", "budget": 300000, "actual": 291000},
        ],
    },
    ("budget_review", "Explain variances"): {
        "explanations": [{"service": "Email", "explanation": "Unplanned storage extension",
                          "corrective_action": "Capacity plan now covers storage",
                          "recurring": False}],
    },
    ("budget_review", "Forecast costs"): {
        "forecast_year_end": 1710000,
        "cost_of_changes": 45000,
        "forecast_assumptions": "Volumes as in Q4; two approved changes in Q1.",
        "budget_adjustment_requested": False,
    },
    ("budget_review", "Approve budget review"): {"approved": True},
    ("budget_review", "Record budget review"): {
        "findings": "Costs are on budget overall.",
        "actions": [ACTION],
        "decisions": "No budget change this quarter.",
    },
    # --- customer satisfaction survey and service review
    ("satisfaction_survey", "Prepare survey"): {
        "survey_period": "2029 H2",
        "services": ["Email", "Service desk"],
        "survey_recipients": "customer-contacts@example.com",
        "survey_link": "https://survey.example.com/csat-2029-h2",
        "closes_on": "2030-01-31",
    },
    ("satisfaction_survey", "Collect survey results"): {
        "surveys_sent": 120,
        "responses": 78,
        "results": [
            {"service": "Email", "score": 4.1, "comments": "Reliable"},
            {"service": "Service desk", "score": 3.6},
        ],
    },
    ("satisfaction_survey", "Analyse low scores"): {
        "improvements": [{"service": "Service desk", "cause": "Long waits on the phone at 9:00",
                          "improvement": "Two more agents on the early shift",
                          "owner": "Service desk lead", "due_date": "2030-03-01"}],
    },
    ("satisfaction_survey", "Hold service review"): {
        "meeting_date": "2030-02-10",
        "customer_attendees": "Ann Berg, Tom Reis",
        "performance_discussed": True,
        "customer_feedback": "Mail is fine; the service desk must answer faster.",
        "business_changes": "A new site opens in Leipzig in May.",
    },
    ("satisfaction_survey", "Record review actions"): {
        "findings": "Satisfaction is good except for phone waiting times.",
        "actions": [ACTION],
        "decisions": "Staff the early shift; survey again in six months.",
    },
    # --- supplier review
    ("supplier_review", "Assess supplier performance"): {
        "period": "2029 Q4",
        "performance": [
            {"supplier": "NetCo", "contract": "UC-2026-014", "measure": "WAN availability (%)",
             "target": 99.9, "achieved": 99.95, "met": True},
            {"supplier": "PrintServ", "contract": "UC-2025-003",
             "measure": "On-site response within 4 h (%)", "target": 95, "achieved": 97,
             "met": True},
        ],
        "open_disputes": [],
    },
    ("supplier_review", "Review open disputes"): {
        "dispute_actions": [{"supplier": "PrintServ",
                             "dispute": "Invoices for toner deliveries not ordered",
                             "action": "Credit note requested; deliveries matched to orders",
                             "escalate": False, "target_date": "2030-02-15"}],
    },
    ("supplier_review", "Assess contract fit"): {
        "contracts_support_slas": True, "contract_change_needed": False},
    ("supplier_review", "Prepare contract change"): {
        "contract_changes": [{"supplier": "NetCo", "contract": "UC-2026-014",
                              "change": "Raise the WAN bandwidth to 2 Gbit/s",
                              "justification": "The new ERP needs it; 1,200 EUR a month more",
                              "change_request": "CHG-000245"}],
    },
    ("supplier_review", "Record supplier review"): {
        "findings": "Suppliers met their targets.",
        "actions": [ACTION],
        "decisions": "Renew the PrintServ contract for one year.",
    },
    # --- internal audit
    ("internal_audit", "Plan audit"): {
        "audited_area": "Incident management",
        "scope": "Incidents closed in Q4 2029 at all sites",
        "criteria": "ISO/IEC 20000-1:2018 8.6.1; incident procedure v4",
        "auditor": "Petra Lang (change management)",
        "auditor_independent": True,
        "planned_date": "2030-02-20",
    },
    ("internal_audit", "Perform audit"): {
        "audit_date": "2030-02-20",
        "evidence_examined": "Sample of 25 incident records; escalation matrix; SLA report",
        "interviewees": "Two service desk agents, the incident manager",
    },
    ("internal_audit", "Record findings"): {"audit_findings": []},
    ("internal_audit", "Agree corrective actions"): {
        "corrective_actions": [
            {"nonconformity": "8.6.1: incidents closed without caller confirmation",
             "correction": "Reopen the three incidents and confirm with the callers",
             "corrective_action": "Tool blocks closure until confirmation or 5 days pass",
             "owner": "Incident manager", "due_date": "2030-04-30"},
            {"nonconformity": "8.6.1: no major incident review for INC-000812",
             "correction": "Hold the review now",
             "corrective_action": "Major incident procedure ends with a review task",
             "owner": "Incident manager", "due_date": "2030-03-31"},
        ],
    },
    ("internal_audit", "Write audit report"): {
        "findings": "Incident management works; closure and reviews need discipline.",
        "actions": [ACTION],
        "decisions": "Follow up the corrective actions in the next audit.",
        "conclusion": "conforming",
    },
    # --- management review
    ("management_review", "Compile review inputs"): {
        "period": "2029",
        "previous_actions": "4 of 5 actions from the 2028 review are complete.",
        "audit_results": "Two internal audits, one minor nonconformity (closed).",
        "performance": "SLA targets met in 11 of 12 months; ERP missed in December.",
        "customer_feedback": "Satisfaction 4.1 of 5; three complaints, all closed.",
        "nonconformities": "One minor nonconformity, corrective action complete.",
        "open_nonconformities": 0,
        "improvement_opportunities": "Automate the ERP failover; self-service password reset.",
        "changes_affecting_sms": "Two subsidiaries join the services in spring.",
    },
    ("management_review", "Hold management review"): {
        "meeting_date": "2030-03-20",
        "attendees": "CEO, CIO, CFO, Quality Manager",
        "sms_suitable": True,
        "sms_adequate": True,
        "sms_effective": True,
        "conclusions": "The SMS works; prepare it for the two subsidiaries.",
        "sms_changes_needed": False,
    },
    ("management_review", "Plan SMS changes"): {
        "sms_changes": [{"change": "Extend the SMS scope to the two subsidiaries",
                         "reason": "They join the services in spring",
                         "owner": "Quality Manager", "due_date": "2030-05-31"}],
    },
    ("management_review", "Record decisions and actions"): {
        "findings": "The SMS is effective; its scope must grow.",
        "actions": [ACTION],
        "decisions": "Approve the ERP failover automation and the scope extension.",
        "resource_needs": "One more service desk agent from April.",
    },
}

# Which role works each task (the lane it must be in).
LANES: dict[tuple[str, str], str] = {
    ("sla_review", "Collect SLA performance"): "Service Level Manager",
    ("sla_review", "Investigate missed targets"): "Service Owner",
    ("sla_review", "Review with customer"): "Service Level Manager",
    ("sla_review", "Record SLA review"): "Service Level Manager",
    ("service_report", "Compile service report"): "Service Level Manager",
    ("service_report", "Approve service report"): "Service Owner",
    ("service_report", "Record report review"): "Service Level Manager",
    ("capacity_review", "Record demand and capacity"): "Capacity Manager",
    ("capacity_review", "Plan upgrades"): "Capacity Manager",
    ("capacity_review", "Approve upgrade plan"): "Service Owner",
    ("capacity_review", "Record capacity review"): "Capacity Manager",
    ("continuity_test", "Review availability"): "Continuity Manager",
    ("continuity_test", "Plan continuity test"): "Continuity Manager",
    ("continuity_test", "Run continuity test"): "Service Owner",
    ("continuity_test", "Define remediation actions"): "Continuity Manager",
    ("continuity_test", "Write test report"): "Continuity Manager",
    ("security_risk_review", "Assess information security risks"):
        "Information Security Manager",
    ("security_risk_review", "Decide controls"): "Information Security Manager",
    ("security_risk_review", "Confirm security policy"): "Top Management",
    ("security_risk_review", "Plan policy revision"): "Information Security Manager",
    ("security_risk_review", "Record risk review"): "Information Security Manager",
    ("budget_review", "Record actual costs"): "Finance Manager",
    ("budget_review", "Explain variances"): "Service Owner",
    ("budget_review", "Forecast costs"): "Finance Manager",
    ("budget_review", "Approve budget review"): "Top Management",
    ("budget_review", "Record budget review"): "Finance Manager",
    ("satisfaction_survey", "Prepare survey"): "Business Relationship Manager",
    ("satisfaction_survey", "Collect survey results"): "Business Relationship Manager",
    ("satisfaction_survey", "Analyse low scores"): "Service Owner",
    ("satisfaction_survey", "Hold service review"): "Business Relationship Manager",
    ("satisfaction_survey", "Record review actions"): "Business Relationship Manager",
    ("supplier_review", "Assess supplier performance"): "Supplier Manager",
    ("supplier_review", "Review open disputes"): "Supplier Manager",
    ("supplier_review", "Assess contract fit"): "Service Owner",
    ("supplier_review", "Prepare contract change"): "Supplier Manager",
    ("supplier_review", "Record supplier review"): "Supplier Manager",
    ("internal_audit", "Plan audit"): "Quality Manager",
    ("internal_audit", "Perform audit"): "Internal Auditor",
    ("internal_audit", "Record findings"): "Internal Auditor",
    ("internal_audit", "Agree corrective actions"): "Quality Manager",
    ("internal_audit", "Write audit report"): "Internal Auditor",
    ("management_review", "Compile review inputs"): "Quality Manager",
    ("management_review", "Hold management review"): "Top Management",
    ("management_review", "Plan SMS changes"): "Quality Manager",
    ("management_review", "Record decisions and actions"): "Top Management",
}

ROLES = sorted(set(LANES.values()) | set(OWNERS.values()))
ACTORS = {role: Actor(role.lower().replace(" ", "."), frozenset({role})) for role in ROLES}

FINAL_TASK = {
    "sla_review": "Record SLA review",
    "service_report": "Record report review",
    "capacity_review": "Record capacity review",
    "continuity_test": "Write test report",
    "security_risk_review": "Record risk review",
    "budget_review": "Record budget review",
    "satisfaction_survey": "Record review actions",
    "supplier_review": "Record supplier review",
    "internal_audit": "Write audit report",
    "management_review": "Record decisions and actions",
}


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class Step:
    title: str
    data: dict[str, Any]


@dataclass(frozen=True)
class PathCase:
    """One path through a process: its steps, and what its review record must hold."""

    key: str
    steps: list[Step]
    record: dict[str, Any]
    # (recipient, recipient_role, subject) of each notification before the owner's summary;
    # "{key}" stands for the instance's business key
    outbox: list[tuple[str | None, str | None, str]] = field(default_factory=list)


def step(key: str, title: str, **overrides: Any) -> Step:
    return Step(title, {**copy.deepcopy(FORMS[(key, title)]), **overrides})


def steps(key: str, *titles: str | Step) -> list[Step]:
    return [t if isinstance(t, Step) else step(key, t) for t in titles]


def _sla(missed: bool) -> dict[str, Any]:
    rows = copy.deepcopy(FORMS[("sla_review", "Collect SLA performance")]["sla_results"])
    if missed:
        rows[0].update(achieved=98.9, met=False)
    return {"sla_results": rows}


def _resources(breach: bool) -> dict[str, Any]:
    rows = copy.deepcopy(FORMS[("capacity_review", "Record demand and capacity")]["resources"])
    if breach:
        rows[0]["forecast_usage"] = 88
    return {"resources": rows}


def _test_run(**changes: Any) -> Step:
    return step("continuity_test", "Run continuity test", **changes)


S, R, C, T = "sla_review", "service_report", "capacity_review", "continuity_test"
X, B, Q, U = "security_risk_review", "budget_review", "satisfaction_survey", "supplier_review"
A, M = "internal_audit", "management_review"

NONCONFORMITIES = [
    {"clause": "8.6.1", "description": "Incidents closed without caller confirmation",
     "severity": "minor nonconformity", "evidence": "3 of 25 sampled records"},
    {"clause": "8.6.1", "description": "No review after major incident INC-000812",
     "severity": "major nonconformity", "evidence": "No review record exists"},
    {"clause": "8.6.1", "description": "Work log entries are terse",
     "severity": "observation", "evidence": "Most sampled records"},
]

PATHS: dict[str, PathCase] = {
    "sla_review/all_met": PathCase(S, steps(
        S, "Collect SLA performance", "Review with customer", "Record SLA review"),
        {"period": "2029-12", "targets_total": 2, "targets_missed": 0, "services_missed": [],
         "investigations": [], "sla_changes_agreed": False, "sla_changes": ""}),
    "sla_review/misses_investigated": PathCase(S, steps(
        S, step(S, "Collect SLA performance", **_sla(missed=True)),
        "Investigate missed targets",
        step(S, "Review with customer", sla_changes_agreed=True,
             sla_changes="Email availability target measured per business day"),
        "Record SLA review"),
        {"targets_total": 2, "targets_missed": 1, "services_missed": ["Email"],
         "investigations": FORMS[(S, "Investigate missed targets")]["investigations"],
         "sla_changes_agreed": True,
         "sla_changes": "Email availability target measured per business day"}),
    "service_report/approved": PathCase(R, steps(
        R, "Compile service report", "Approve service report", "Record report review"),
        {"period": "2029-12", "targets_met": 1, "targets_total": 2,
         "workload": FORMS[(R, "Compile service report")]["workload"],
         "distributed_to": "service-board@example.com"},
        [("service-board@example.com", None, "Service report 2029-12 ({key})")]),
    "service_report/rework_then_approved": PathCase(R, steps(
        R, "Compile service report",
        step(R, "Approve service report", approved=False,
             approval_comments="Add the P1 trend of the last six months."),
        step(R, "Compile service report",
             trends="P1 incidents fell from 9 to 4 a month over six months."),
        "Approve service report", "Record report review"),
        {"trends": "P1 incidents fell from 9 to 4 a month over six months.",
         "distributed_to": "service-board@example.com"},
        [("service-board@example.com", None, "Service report 2029-12 ({key})")]),
    "capacity_review/within_thresholds": PathCase(C, steps(
        C, "Record demand and capacity", "Record capacity review"),
        {"thresholds_breached": False, "breached_resources": [], "upgrades": [],
         "upgrade_cost_total": 0, "longest_lead_time_days": 0,
         "upgrade_plan_approved": False}),
    "capacity_review/upgrades_approved": PathCase(C, steps(
        C, step(C, "Record demand and capacity", **_resources(breach=True)),
        "Plan upgrades", "Approve upgrade plan", "Record capacity review"),
        {"thresholds_breached": True, "breached_resources": ["Mail storage cluster"],
         "upgrade_cost_total": 20900.5, "longest_lead_time_days": 45, "currency": "EUR",
         "upgrade_plan_approved": True}),
    "capacity_review/upgrades_rejected": PathCase(C, steps(
        C, step(C, "Record demand and capacity", **_resources(breach=True)),
        "Plan upgrades",
        step(C, "Approve upgrade plan", upgrade_plan_approved=False,
             approval_comments="Archive old mailboxes first; revisit next quarter."),
        "Record capacity review"),
        {"thresholds_breached": True, "upgrade_plan_approved": False}),
    "continuity_test/passed": PathCase(T, steps(
        T, "Review availability", "Plan continuity test", "Run continuity test",
        "Write test report"),
        {"test_result": "passed", "rto_met": True, "rpo_met": True,
         "remediation_actions": [], "retest_required": False, "plan_updated": True,
         "availability": FORMS[(T, "Review availability")]["availability_results"]}),
    "continuity_test/rto_missed_remediated": PathCase(T, steps(
        T, "Review availability", "Plan continuity test",
        _test_run(recovery_time_minutes=310), "Define remediation actions",
        "Write test report"),
        {"test_result": "failed", "rto_met": False, "rpo_met": True,
         "recovery_time_minutes": 310, "retest_required": True,
         "remediation_actions":
             FORMS[(T, "Define remediation actions")]["remediation_actions"]}),
    "continuity_test/rpo_missed_remediated": PathCase(T, steps(
        T, "Review availability", "Plan continuity test", _test_run(data_loss_minutes=45),
        "Define remediation actions", "Write test report"),
        {"test_result": "failed", "rto_met": True, "rpo_met": False,
         "data_loss_minutes": 45}),
    "continuity_test/service_not_recovered": PathCase(T, steps(
        T, "Review availability", "Plan continuity test",
        _test_run(all_services_recovered=False), "Define remediation actions",
        "Write test report"),
        {"test_result": "failed", "rto_met": True, "rpo_met": True,
         "all_services_recovered": False}),
    "security_risk_review/policy_confirmed": PathCase(X, steps(
        X, "Assess information security risks", "Decide controls", "Confirm security policy",
        "Record risk review"),
        {"level_counts": {"low": 1, "medium": 1, "high": 1, "critical": 0},
         "high_risks": ["Ransomware on the file servers"], "policy_still_approved": True,
         "policy_revision": None, "residual_risks_accepted": True}),
    "security_risk_review/policy_revision": PathCase(X, steps(
        X, "Assess information security risks", "Decide controls",
        step(X, "Confirm security policy", policy_still_approved=False,
             policy_comments="Cloud services and supplier access are not covered."),
        "Plan policy revision", "Record risk review"),
        {"policy_still_approved": False,
         "policy_revision": {"summary": "Add a chapter on cloud services and supplier access.",
                             "owner": "Information Security Manager", "due": "2030-03-31"}}),
    "budget_review/within_threshold": PathCase(B, steps(
        B, "Record actual costs", "Forecast costs", "Approve budget review",
        "Record budget review"),
        {"budget_total": 420000, "actual_total": 417000, "variances_over_threshold": [],
         "explanations": [], "approved": True, "adjustment_amount": 0}),
    "budget_review/variances_explained": PathCase(B, steps(
        B, step(B, "Record actual costs", lines=[
            {"service": "Email", "budget": 120000, "actual": 138000},
            {"service": "Service desk", "budget": 300000, "actual": 291000}]),
        "Explain variances", "Forecast costs", "Approve budget review",
        "Record budget review"),
        {"actual_total": 429000, "variances_over_threshold": ["Email"],
         "explanations": FORMS[(B, "Explain variances")]["explanations"]}),
    "budget_review/forecast_returned": PathCase(B, steps(
        B, "Record actual costs", "Forecast costs",
        step(B, "Approve budget review", approved=False,
             approval_comments="Include the cost of the two subsidiaries joining."),
        step(B, "Forecast costs", forecast_year_end=1790000,
             budget_adjustment_requested=True, adjustment_amount=80000),
        "Approve budget review", "Record budget review"),
        {"forecast_year_end": 1790000, "budget_adjustment_requested": True,
         "adjustment_amount": 80000, "approved": True}),
    "satisfaction_survey/satisfied": PathCase(Q, steps(
        Q, "Prepare survey", "Collect survey results", "Hold service review",
        "Record review actions"),
        {"response_rate": 65.0, "average_score": 3.85, "low_scores": [],
         "improvements": [], "meeting_date": "2030-02-10"},
        [("customer-contacts@example.com", None, "Customer satisfaction survey 2029 H2")]),
    "satisfaction_survey/low_scores_analysed": PathCase(Q, steps(
        Q, "Prepare survey",
        step(Q, "Collect survey results", results=[
            {"service": "Email", "score": 4.1}, {"service": "Service desk", "score": 2.4}]),
        "Analyse low scores", "Hold service review", "Record review actions"),
        {"average_score": 3.25, "low_scores": ["Service desk"],
         "improvements": FORMS[(Q, "Analyse low scores")]["improvements"]},
        [("customer-contacts@example.com", None, "Customer satisfaction survey 2029 H2")]),
    "supplier_review/all_clear": PathCase(U, steps(
        U, "Assess supplier performance", "Assess contract fit", "Record supplier review"),
        {"suppliers_reviewed": ["NetCo", "PrintServ"], "suppliers_below_target": [],
         "dispute_actions": [], "contract_change_needed": False, "contract_changes": []}),
    "supplier_review/disputes_reviewed": PathCase(U, steps(
        U, step(U, "Assess supplier performance", open_disputes=[
            {"supplier": "PrintServ", "dispute": "Invoices for toner deliveries not ordered",
             "opened_on": "2029-11-20"}]),
        "Review open disputes", "Assess contract fit", "Record supplier review"),
        {"dispute_actions": FORMS[(U, "Review open disputes")]["dispute_actions"],
         "contract_changes": []}),
    "supplier_review/contract_change": PathCase(U, steps(
        U, "Assess supplier performance",
        step(U, "Assess contract fit", contracts_support_slas=False,
             contract_change_needed=True,
             change_reason="The WAN bandwidth is too small for the new ERP."),
        "Prepare contract change", "Record supplier review"),
        {"contract_change_needed": True, "dispute_actions": [],
         "contract_changes": FORMS[(U, "Prepare contract change")]["contract_changes"]}),
    "internal_audit/no_findings": PathCase(A, steps(
        A, "Plan audit", "Perform audit", "Record findings", "Write audit report"),
        {"audited_area": "Incident management", "auditor_independent": True,
         "audit_findings": [], "nonconformity_count": 0, "corrective_actions": [],
         "conclusion": "conforming"}),
    "internal_audit/observations_only": PathCase(A, steps(
        A, "Plan audit", "Perform audit",
        step(A, "Record findings", audit_findings=NONCONFORMITIES[2:]),
        step(A, "Write audit report", conclusion="conforming with observations")),
        {"nonconformity_count": 0, "corrective_actions": [],
         "conclusion": "conforming with observations"}),
    "internal_audit/nonconformities": PathCase(A, steps(
        A, "Plan audit", "Perform audit",
        step(A, "Record findings", audit_findings=NONCONFORMITIES),
        "Agree corrective actions",
        step(A, "Write audit report", conclusion="nonconforming")),
        {"nonconformity_count": 2, "major_nonconformities": 1,
         "corrective_actions": FORMS[(A, "Agree corrective actions")]["corrective_actions"],
         "conclusion": "nonconforming"},
        [(None, "Quality Manager",
          "Audit {key}: 2 nonconformity(ies) in Incident management")]),
    "management_review/no_sms_changes": PathCase(M, steps(
        M, "Compile review inputs", "Hold management review", "Record decisions and actions"),
        {"sms_effective": True, "sms_changes": [],
         "resource_needs": "One more service desk agent from April."}),
    "management_review/sms_changes_planned": PathCase(M, steps(
        M, "Compile review inputs",
        step(M, "Hold management review", sms_adequate=False, sms_changes_needed=True),
        "Plan SMS changes", "Record decisions and actions"),
        {"sms_adequate": False,
         "sms_changes": FORMS[(M, "Plan SMS changes")]["sms_changes"]}),
}


# --------------------------------------------------------------------------- fixtures


# --------------------------------------------------------------------------- drivers


def start(orchestrator: Orchestrator, key: str) -> int:
    """Start by hand, like a user would (the scheduler's start is tested below)."""
    first = PROCESSES[key][1]
    started = orchestrator.start_instance(key, {}, ACTORS[LANES[(key, first)]])
    assert started.status == "running", started.error
    assert started.ready_task_ids, "the start waits: the timer start event was not stripped"
    return started.instance_id


def open_task(orchestrator: Orchestrator, instance_id: int, key: str, title: str) -> str:
    """The id of the one open task, which must be ``title`` in its lane."""
    tasks = orchestrator.open_tasks(instance_id)
    assert [(t.title, t.lane) for t in tasks] == [(title, LANES[(key, title)])]
    return tasks[0].id


def complete(orchestrator: Orchestrator, instance_id: int, key: str, done: Step) -> None:
    task_id = open_task(orchestrator, instance_id, key, done.title)
    orchestrator.complete_task(task_id, done.data, ACTORS[LANES[(key, done.title)]])


def run_path(orchestrator: Orchestrator, case: PathCase) -> int:
    instance_id = start(orchestrator, case.key)
    for done in case.steps:
        complete(orchestrator, instance_id, case.key, done)
    return instance_id


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("path", list(PATHS))
def test_path_ends_with_a_review_record(
    library: Orchestrator, clock: ManualClock, path: str
) -> None:
    case = PATHS[path]
    instance_id = run_path(library, case)

    view = library.instance(instance_id, SYSTEM)
    assert (view.status, view.error, view.open_tasks) == ("completed", None, [])
    title = f"{PROCESSES[case.key][0]} {TODAY}"
    assert view.record["title"] == title
    assert view.record["status"] == "Recorded"

    record = view.data["review_record"]
    final = case.steps[-1]
    assert final.title == FINAL_TASK[case.key]
    assert {k: record[k] for k in ("findings", "actions", "decisions")} == {
        k: final.data[k] for k in ("findings", "actions", "decisions")}
    assert record["title"] == title
    assert record["business_key"] == view.business_key
    assert record["scheduled_for"] == f"{TODAY}T09:00:00+00:00"  # a hand start: now
    assert record["missed_occurrences"] == 0
    assert {k: record[k] for k in case.record} == case.record
    json.dumps(record)  # the record is plain JSON

    outbox = notifications(library, instance_id)
    expected = [(to, role, subject.format(key=view.business_key))
                for to, role, subject in case.outbox]
    expected.append((None, OWNERS[case.key], f"{title} recorded ({view.business_key})"))
    assert [(n.recipient, n.recipient_role, n.subject) for n in outbox] == expected
    assert outbox[-1].body == view.data["review_summary"]
    assert view.business_key in outbox[-1].body


def test_every_process_and_every_task_is_on_some_path() -> None:
    assert {case.key for case in PATHS.values()} == set(CYCLES)
    walked = {(case.key, s.title) for case in PATHS.values() for s in case.steps}
    assert walked == set(FORMS) == set(LANES)


# A bad value (or DELETE) at JSON pointers, and the pointer the refusal must name.
DELETE = object()
INVALID: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    (S, "Collect SLA performance"): ({"/sla_results/0/met": "yes"}, "/sla_results/0/met"),
    (S, "Investigate missed targets"): (
        {"/investigations/0/cause": DELETE}, "/investigations/0/cause"),
    (S, "Review with customer"): (
        {"/sla_changes_agreed": True}, "/sla_changes"),
    (S, "Record SLA review"): ({"/actions/0/due_date": "next week"}, "/actions/0/due_date"),
    (R, "Compile service report"): ({"/distribution_list": "service board"},
                                    "/distribution_list"),
    (R, "Approve service report"): ({"/approved": False}, "/approval_comments"),
    (R, "Record report review"): ({"/findings": ""}, "/findings"),
    (C, "Record demand and capacity"): ({"/resources/0/capacity": 0},
                                        "/resources/0/capacity"),
    (C, "Plan upgrades"): ({"/currency": "euro"}, "/currency"),
    (C, "Approve upgrade plan"): ({"/upgrade_plan_approved": False}, "/approval_comments"),
    (C, "Record capacity review"): ({"/decisions": DELETE}, "/decisions"),
    (T, "Review availability"): ({"/availability_results/0/achieved_percent": 101},
                                 "/availability_results/0/achieved_percent"),
    (T, "Plan continuity test"): ({"/test_type": "tabletop"}, "/test_type"),
    (T, "Run continuity test"): ({"/recovery_time_minutes": -5}, "/recovery_time_minutes"),
    (T, "Define remediation actions"): ({"/remediation_actions": []},
                                        "/remediation_actions"),
    (T, "Write test report"): ({"/plan_updated": DELETE}, "/plan_updated"),
    (X, "Assess information security risks"): ({"/risks/0/likelihood": 6},
                                                "/risks/0/likelihood"),
    (X, "Decide controls"): ({"/controls/0/option": "ignore"}, "/controls/0/option"),
    (X, "Confirm security policy"): ({"/policy_still_approved": False}, "/policy_comments"),
    (X, "Plan policy revision"): ({"/revision_due": "2030-02-30"}, "/revision_due"),
    (X, "Record risk review"): ({"/residual_risks_accepted": "yes"},
                                "/residual_risks_accepted"),
    (B, "Record actual costs"): ({"/lines/0/budget": 0}, "/lines/0/budget"),
    (B, "Explain variances"): ({"/explanations/0/recurring": DELETE},
                               "/explanations/0/recurring"),
    (B, "Forecast costs"): ({"/budget_adjustment_requested": True}, "/adjustment_amount"),
    (B, "Approve budget review"): ({"/approved_by": "CFO"}, "/approved_by"),
    (B, "Record budget review"): ({"/actions/0/owner": ""}, "/actions/0/owner"),
    (Q, "Prepare survey"): ({"/survey_link": "not a link"}, "/survey_link"),
    (Q, "Collect survey results"): ({"/results/0/score": 0}, "/results/0/score"),
    (Q, "Analyse low scores"): ({"/improvements/0/due_date": DELETE},
                                "/improvements/0/due_date"),
    (Q, "Hold service review"): ({"/meeting_date": "10.02.2030"}, "/meeting_date"),
    (Q, "Record review actions"): ({"/actions": "none"}, "/actions"),
    (U, "Assess supplier performance"): ({"/performance/0/target": "99.9 %"},
                                         "/performance/0/target"),
    (U, "Review open disputes"): ({"/dispute_actions/0/escalate": DELETE},
                                  "/dispute_actions/0/escalate"),
    (U, "Assess contract fit"): ({"/contract_change_needed": True}, "/change_reason"),
    (U, "Prepare contract change"): ({"/contract_changes/0/change_request": DELETE},
                                     "/contract_changes/0/change_request"),
    (U, "Record supplier review"): ({"/decisions": "ok"}, "/decisions"),
    (A, "Plan audit"): ({"/auditor_independent": False}, "/auditor_independent"),
    (A, "Perform audit"): ({"/audit_date": DELETE}, "/audit_date"),
    (A, "Record findings"): (
        {"/audit_findings": [{**NONCONFORMITIES[0], "severity": "critical"}]},
        "/audit_findings/0/severity"),
    (A, "Agree corrective actions"): ({"/corrective_actions/0/owner": DELETE},
                                      "/corrective_actions/0/owner"),
    (A, "Write audit report"): ({"/conclusion": "fine"}, "/conclusion"),
    (M, "Compile review inputs"): ({"/open_nonconformities": 1.5}, "/open_nonconformities"),
    (M, "Hold management review"): ({"/sms_effective": DELETE}, "/sms_effective"),
    (M, "Plan SMS changes"): ({"/sms_changes": []}, "/sms_changes"),
    (M, "Record decisions and actions"): ({"/resource_needs": ""}, "/resource_needs"),
}


def _mutated(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(data)
    for pointer, value in changes.items():
        *parents, last = pointer.strip("/").split("/")
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return result


def _path_through(key: str, title: str) -> PathCase:
    return next(c for c in PATHS.values()
                if c.key == key and any(s.title == title for s in c.steps))


@pytest.mark.parametrize("form", list(INVALID), ids=[f"{k}/{t}" for k, t in INVALID])
def test_form_rejects_invalid_data(library: Orchestrator, form: tuple[str, str]) -> None:
    key, title = form
    changes, pointer = INVALID[form]
    case = _path_through(key, title)
    instance_id = start(library, key)
    for done in case.steps:
        if done.title == title:
            break
        complete(library, instance_id, key, done)
    task_id = open_task(library, instance_id, key, title)
    actor = ACTORS[LANES[form]]

    with pytest.raises(FormInvalid) as refused:
        library.complete_task(task_id, _mutated(done.data, changes), actor)
    assert pointer in [e.field for e in refused.value.errors], refused.value.errors
    assert all(e.message for e in refused.value.errors)
    # the task is still open, and the valid data is taken
    assert open_task(library, instance_id, key, title) == task_id
    library.complete_task(task_id, done.data, actor)


def test_every_form_of_the_periodic_processes_has_an_invalid_case() -> None:
    titles = set()
    for key in CYCLES:
        for schema in (LIBRARY / key).glob("*.schema.json"):
            titles.add((key, json.loads(schema.read_text())["title"]))
    assert titles == set(INVALID) == set(FORMS)


# --------------------------------------------------------------------------- risk_level DMN

# (likelihood, impact) -> level, one or more cases per rule and both edges of every band
RISK_LEVELS = [
    (1, 1, "low"), (2, 2, "low"), (1, 4, "low"),
    (1, 5, "medium"), (3, 3, "medium"), (2, 4, "medium"),
    (2, 5, "high"), (4, 4, "high"), (5, 3, "high"),
    (4, 5, "critical"), (5, 5, "critical"),
]
TREATMENTS = {
    "low": "Accept and monitor at the next review",
    "medium": "Treat within 180 days or accept formally",
    "high": "Treat within 90 days",
    "critical": "Treat at once and inform top management",
}


def _dmn_rules() -> list[tuple[str, str]]:
    """(level, treatment) of each rule of risk_level.dmn, in order."""
    root = etree.parse(str(LIBRARY / X / "risk_level.dmn")).getroot()
    rules = root.findall(".//{*}decisionTable/{*}rule")
    return [tuple(json.loads(e.findtext("{*}text")) for e in r.findall("{*}outputEntry"))
            for r in rules]  # type: ignore[misc]


def test_risk_level_table_row_by_row(library: Orchestrator) -> None:
    assert _dmn_rules() == list(TREATMENTS.items())  # every row is exercised below
    risks = [
        {"risk": f"Risk {likelihood}x{impact}", "asset": "File shares",
         "threat": "Some threat", "likelihood": likelihood, "impact": impact,
         "risk_owner": "Owner"}
        for likelihood, impact, _ in RISK_LEVELS
    ]
    instance_id = start(library, X)
    complete(library, instance_id, X, step(X, "Assess information security risks",
                                           risks=risks))
    data = library.instance(instance_id, SYSTEM).data
    register = data["risk_register"]
    assert [(r["likelihood"], r["impact"], r["level"]) for r in register] == RISK_LEVELS
    assert [r["treatment"] for r in register] == [TREATMENTS[lvl] for _, _, lvl in RISK_LEVELS]
    assert [r["score"] for r in register] == [i * j for i, j, _ in RISK_LEVELS]
    assert data["level_counts"] == {"low": 3, "medium": 3, "high": 3, "critical": 2}
    assert "risk" not in data and "assessed_risk" not in data  # loop variables stay inside


# --------------------------------------------------------------------------- schedules

DEPLOYED = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # the ``clock`` fixture's start
FIRST_DUE = {
    "capacity_review": datetime(2030, 1, 11, 8, 0, tzinfo=UTC),
    "budget_review": datetime(2030, 1, 12, 8, 0, tzinfo=UTC),
    "security_risk_review": datetime(2030, 1, 18, 8, 0, tzinfo=UTC),
    "supplier_review": datetime(2030, 1, 19, 8, 0, tzinfo=UTC),
    "satisfaction_survey": datetime(2030, 2, 1, 8, 0, tzinfo=UTC),
    "sla_review": datetime(2030, 2, 4, 8, 0, tzinfo=UTC),
    "service_report": datetime(2030, 2, 5, 8, 0, tzinfo=UTC),
    "internal_audit": datetime(2030, 2, 15, 8, 0, tzinfo=UTC),
    "continuity_test": datetime(2030, 3, 1, 8, 0, tzinfo=UTC),
    "management_review": datetime(2030, 3, 15, 8, 0, tzinfo=UTC),
}


def test_schedules_start_one_review_per_occurrence(
    clock: ManualClock, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    assert clock.now() == DEPLOYED
    orchestrator = make_orchestrator()  # deployed now, so the schedules start from now
    schedules = {s.key: s for s in orchestrator.schedules() if s.key in CYCLES}
    assert {k: (s.expression_kind, s.expression) for k, s in schedules.items()} == {
        k: ("timeCycle", cycle) for k, cycle in CYCLES.items()}
    assert {k: s.next_due_at for k, s in schedules.items()} == FIRST_DUE
    assert {s.element_id for s in schedules.values()} <= {"Event_review_due",
                                                          "Event_report_due",
                                                          "Event_test_due",
                                                          "Event_survey_due",
                                                          "Event_audit_due"}

    for due in sorted(set(FIRST_DUE.values())):
        clock.advance(due + timedelta(minutes=1) - clock.now())
        orchestrator.fire_due_timers()

    started: dict[str, tuple[int | None, str]] = {}  # key -> its first scheduled instance
    with orchestrator.db.read() as session:
        for event in session.scalars(select(AuditEvent).where(
                AuditEvent.kind == "schedule_fired").order_by(AuditEvent.id)):
            started.setdefault(event.details["process"],
                               (event.instance_id, event.details["scheduled_for"]))
    assert {k: started[k][1] for k in CYCLES} == {
        k: due.isoformat() for k, due in FIRST_DUE.items()}
    for key, due in FIRST_DUE.items():
        instance_id = started[key][0]
        assert instance_id is not None
        view = orchestrator.instance(instance_id, SYSTEM)
        assert view.status == "running"
        assert view.data["scheduled_for"] == due.isoformat()
        assert view.data["missed_occurrences"] == 0
        assert view.record["title"] == f"{PROCESSES[key][0]} {due.date().isoformat()}"
        first = PROCESSES[key][1]
        assert [(t.title, t.lane) for t in view.open_tasks] == [(first, LANES[(key, first)])]


def test_the_record_of_a_scheduled_review_names_its_occurrence(library: Orchestrator) -> None:
    """A start by the scheduler (scheduled_for, missed_occurrences) ends in the record."""
    case = PATHS["management_review/no_sms_changes"]
    started = library.start_instance(
        M, {"scheduled_for": "2031-03-15T08:00:00+00:00", "missed_occurrences": 2}, SYSTEM)
    for done in case.steps:
        complete(library, started.instance_id, M, done)
    record = library.instance(started.instance_id, SYSTEM).data["review_record"]
    assert record["title"] == "Management review 2031-03-15"
    assert (record["scheduled_for"], record["missed_occurrences"]) == (
        "2031-03-15T08:00:00+00:00", 2)


def test_periodic_models_are_in_the_library() -> None:
    for key in CYCLES:
        manifest = json.loads((LIBRARY / key / "manifest.json").read_text())
        assert manifest["process_id"] == key
        assert manifest["owner_role"] == OWNERS[key]
        assert manifest["record"] == {"title": "review_title", "status": "review_status"}
        bpmn = (LIBRARY / key / f"{key}.bpmn").read_text()
        assert f'"{CYCLES[key]}"</bpmn:timeCycle>' in bpmn
    roles = {r["name"] for r in json.loads((LIBRARY / "roles.json").read_text())["roles"]}
    assert set(ROLES) <= roles

