"""Actors, canonical form data and drivers for the case processes of the library.

Covers service_request, security_incident, complaint, supplier_dispute, design_transition,
nonconformity and improvement. Each :class:`CaseProcess` knows the valid data of every user
task (by task title, with the role that works it), a *form path* that reaches every one of
its forms in a single instance, and for each form a change that makes the data invalid with
the JSON pointers the refusal must name. The per-process tests
(``tests/integration/test_<key>_process.py``) drive their tables of paths with
:func:`start` and :func:`complete`; ``test_case_process_forms.py`` walks the form paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

from engine.access import SYSTEM, Actor
from engine.orchestrator import Orchestrator
from tests.integration.conftest import LIBRARY, find_task

# Sees every instance (views only; never works a task).
AUDITOR = Actor("audrey", frozenset({"Reader"}))

REQUESTER = Actor("rachel", frozenset({"Requester"}))
SERVICE_DESK = Actor("sam", frozenset({"Service Desk"}))
APPROVER = Actor("mark", frozenset({"Approver"}))
FULFILMENT = Actor("fiona", frozenset({"Fulfilment Group"}))
SECURITY_TEAM = Actor("sven", frozenset({"Security Team"}))
ISM = Actor("irene", frozenset({"Information Security Manager"}))
BRM = Actor("bella", frozenset({"Business Relationship Manager"}))
SERVICE_OWNER = Actor("oscar", frozenset({"Service Owner"}))
SUPPLIER_MANAGER = Actor("simon", frozenset({"Supplier Manager"}))
SERVICE_DESIGN = Actor("dora", frozenset({"Service Design"}))
CHANGE_MANAGER = Actor("chiara", frozenset({"Change Manager"}))
QUALITY_MANAGER = Actor("quinn", frozenset({"Quality Manager"}))
PROCESS_OWNER = Actor("paula", frozenset({"Process Owner"}))

REQUESTER_MAIL = "rachel@example.com"
MANAGER_MAIL = "mark@example.com"
CUSTOMER_MAIL = "it-lead@contoso.example"
PROPOSER_MAIL = "sam@example.com"

DESIGN_REQUEST = {
    "source_key": "CHG-000042",
    "summary": "Introduce self-service password reset",
    "ci": "APP-0042",
}


@dataclass(frozen=True)
class Task:
    """A user task: the actor who works it and valid, realistic form data."""

    actor: Actor
    data: dict[str, Any]


@dataclass(frozen=True)
class Wait:
    """A form-path step that lets time pass and fires the timers then due."""

    duration: timedelta


@dataclass(frozen=True)
class CaseProcess:
    key: str
    tasks: dict[str, Task]
    # Steps that reach every form of the process in one instance: (title, overrides) or Wait.
    form_path: tuple[tuple[str, dict[str, Any]] | Wait, ...]
    # title -> (changes making the data invalid, None = leave the field out; JSON pointers)
    invalid: dict[str, tuple[dict[str, Any], set[str]]] = field(default_factory=dict)
    started_by_message: str | None = None
    starter: Actor = AUDITOR


def _path(*steps: str | tuple[str, dict[str, Any]] | Wait) -> tuple[Any, ...]:
    return tuple((s, {}) if isinstance(s, str) else s for s in steps)


SERVICE_REQUEST = CaseProcess(
    "service_request",
    {
        "Submit request": Task(REQUESTER, {
            "requester": REQUESTER_MAIL,
            "requester_manager": MANAGER_MAIL,
            "catalogue_item": "laptop",
            "summary": "New laptop for the data analyst role",
            "justification": "The current laptop has 8 GB of memory; the analysis jobs need 32.",
            "details": "Developer model, UK keyboard.",
            "needed_by": "2030-01-20",
        }),
        "Check and prioritise": Task(SERVICE_DESK, {
            "priority": 3,
            "service_desk_notes": "Deliver to the Leeds office.",
        }),
        "Approve request": Task(APPROVER, {
            "approval_decision": "approved",
            "approver_name": "Mark Miller",
            "approval_comment": "Budget available in cost centre 4711.",
        }),
        "Fulfil request": Task(FULFILMENT, {
            "fulfilment_notes": "Your laptop LT-04711 is ready for collection at the Leeds "
                                "service point.",
            "delivered_reference": "LT-04711",
        }),
        "Confirm fulfilment": Task(REQUESTER, {
            "confirmed": True,
            "satisfaction": 5,
            "requester_comment": "Works fine, thank you.",
        }),
    },
    _path("Submit request", "Check and prioritise", "Approve request", "Fulfil request",
          "Confirm fulfilment"),
    {
        "Submit request": ({"catalogue_item": "yacht", "requester": "not an address",
                            "justification": None},
                           {"/catalogue_item", "/requester", "/justification"}),
        "Check and prioritise": ({"priority": 7}, {"/priority"}),
        "Approve request": ({"approval_decision": "maybe", "approval_comment": ""},
                            {"/approval_decision", "/approval_comment"}),
        "Fulfil request": ({"fulfilment_notes": "done", "asset": "LT-1"},
                           {"/fulfilment_notes", "/asset"}),
        "Confirm fulfilment": ({"confirmed": "yes", "satisfaction": None},
                               {"/confirmed", "/satisfaction"}),
    },
    starter=REQUESTER,
)

SECURITY_INCIDENT = CaseProcess(
    "security_incident",
    {
        "Report security incident": Task(SECURITY_TEAM, {
            "reporter": "soc@example.com",
            "detection_source": "siem_alert",
            "category": "unauthorised_access",
            "service": "HR portal",
            "ci": "APP-0815",
            "summary": "Unusual bulk export from the HR portal",
            "description": "The SIEM flagged 1,200 employee records exported at 02:13 by a "
                           "service account.",
            "confidentiality_impact": 3,
            "integrity_impact": 1,
            "availability_impact": 0,
        }),
        "Contain": Task(SECURITY_TEAM, {
            "containment_actions": "Disabled the service account and blocked the source "
                                   "address at the firewall.",
            "evidence_preserved": True,
        }),
        "Eradicate": Task(SECURITY_TEAM, {
            "root_cause": "The service account password had leaked in a public repository.",
            "eradication_actions": "Rotated all service account credentials; removed the "
                                   "leaked secret.",
        }),
        "Recover": Task(SECURITY_TEAM, {
            "recovery_actions": "Re-enabled the export job with a new credential; monitored "
                                "for 48 hours.",
            "service_restored_at": "2030-01-08T14:00:00Z",
        }),
        "Assess personal data breach": Task(ISM, {
            "personal_data_breached": True,
            "data_subjects_affected": 1200,
            "breach_assessment": "Names, addresses and salaries of 1,200 employees left the "
                                 "company.",
        }),
        "Notify supervisory authority": Task(ISM, {
            "supervisory_authority": "Information Commissioner's Office",
            "notified_at": "2030-01-08T10:00:00Z",
            "authority_reference": "ICO-2030-0042",
            "data_subjects_informed": True,
        }),
        "Lessons learned": Task(ISM, {
            "lessons_learned": "Secret scanning would have found the leaked password months "
                               "earlier.",
            "control_improvements": "Secret scanning on all repositories; service account "
                                    "passwords in the vault.",
            "follow_up_problem": True,
        }),
    },
    _path("Report security incident", "Assess personal data breach",
          "Notify supervisory authority", "Contain", "Eradicate", "Recover", "Lessons learned"),
    {
        "Report security incident": ({"confidentiality_impact": 4, "category": "ufo",
                                      "summary": None},
                                     {"/confidentiality_impact", "/category", "/summary"}),
        "Contain": ({"evidence_preserved": "no"}, {"/evidence_preserved"}),
        "Eradicate": ({"root_cause": None}, {"/root_cause"}),
        "Recover": ({"service_restored_at": "yesterday afternoon"}, {"/service_restored_at"}),
        "Assess personal data breach": ({"data_subjects_affected": -5},
                                        {"/data_subjects_affected"}),
        "Notify supervisory authority": ({"notified_at": "2030-13-45",
                                          "data_subjects_informed": None},
                                         {"/notified_at", "/data_subjects_informed"}),
        "Lessons learned": ({"lessons_learned": "ok"}, {"/lessons_learned"}),
    },
    starter=SECURITY_TEAM,
)

COMPLAINT = CaseProcess(
    "complaint",
    {
        "Record complaint": Task(BRM, {
            "customer": "Contoso Ltd",
            "customer_contact": CUSTOMER_MAIL,
            "channel": "email",
            "service": "Payroll",
            "summary": "Payroll run delayed twice this quarter",
            "description": "The November and December payroll runs finished a day late; staff "
                           "were paid late.",
            "severity": "major",
        }),
        "Investigate complaint": Task(SERVICE_OWNER, {
            "findings": "Both delays were caused by the batch scheduler missing its window "
                        "after month-end patching.",
            "cause": "service_failure",
            "justified": True,
        }),
        "Act on complaint": Task(SERVICE_OWNER, {
            "actions_taken": "Moved patching out of the payroll window; credited one month's "
                             "service fee.",
            "preventive_action": "Problem record raised for the scheduler.",
        }),
        "Handle escalated complaint": Task(BRM, {
            "escalation_action": "involve_senior_management",
            "escalation_note": "Head of operations asked the service owner for findings by "
                               "Friday.",
        }),
        "Respond to customer": Task(BRM, {
            "response": "Both delays were caused by maintenance overlapping the payroll run. "
                        "We have moved the maintenance window and credited one month's fee.",
        }),
        "Record customer satisfaction": Task(BRM, {
            "customer_accepts": True,
            "customer_satisfaction": 4,
            "satisfaction_comment": "Happy with the credit and the explanation.",
        }),
    },
    _path("Record complaint", Wait(timedelta(days=3, minutes=1)), "Handle escalated complaint",
          "Investigate complaint", "Act on complaint", "Respond to customer",
          "Record customer satisfaction"),
    {
        "Record complaint": ({"severity": "apocalyptic", "customer_contact": "contoso"},
                             {"/severity", "/customer_contact"}),
        "Investigate complaint": ({"justified": None, "cause": "gremlins"},
                                  {"/justified", "/cause"}),
        "Act on complaint": ({"actions_taken": 42}, {"/actions_taken"}),
        "Handle escalated complaint": ({"escalation_action": "shout"}, {"/escalation_action"}),
        "Respond to customer": ({"response": "Sorry."}, {"/response"}),
        "Record customer satisfaction": ({"customer_satisfaction": 0, "customer_accepts": None},
                                         {"/customer_satisfaction", "/customer_accepts"}),
    },
    starter=BRM,
)

SUPPLIER_DISPUTE = CaseProcess(
    "supplier_dispute",
    {
        "Record dispute": Task(SUPPLIER_MANAGER, {
            "supplier": "Northwind Hosting",
            "contract_reference": "CTR-2030-017",
            "service": "Web shop",
            "dispute_type": "service_performance",
            "raised_by": "us",
            "summary": "Availability below the contracted 99.9 % in December",
            "description": "Three outages, 5.5 hours in total; Northwind reports 99.95 %.",
            "amount_in_dispute": 12500,
        }),
        "Assess dispute": Task(SERVICE_OWNER, {
            "service_impact": "high",
            "assessment": "The outages breached our own SLA with the web shop's customers.",
            "desired_outcome": "Service credit per clause 7.2 and a remediation plan.",
        }),
        "Negotiate with supplier": Task(SUPPLIER_MANAGER, {
            "negotiation_notes": "Met Northwind's account manager on 9 January.",
            "negotiation_outcome": "resolved",
            "agreed_resolution": "Northwind grants the credit and delivers a remediation plan "
                                 "by 31 January.",
        }),
        "Escalate to management": Task(SERVICE_OWNER, {
            "management_decision": "invoke_contract_remedies",
            "decided_by": "Dana Scott, Head of IT Operations",
            "decision_notes": "Apply the clause 7.2 credit and start the contract's formal "
                              "dispute procedure.",
        }),
        "Close dispute": Task(SUPPLIER_MANAGER, {
            "resolution_summary": "Service credit of 12,500 EUR applied to the January "
                                  "invoice.",
            "contract_change_needed": False,
        }),
    },
    _path("Record dispute", "Assess dispute",
          ("Negotiate with supplier", {"negotiation_outcome": "not_resolved"}),
          "Escalate to management", "Close dispute"),
    {
        "Record dispute": ({"amount_in_dispute": -1, "raised_by": "them", "supplier": None},
                           {"/amount_in_dispute", "/raised_by", "/supplier"}),
        "Assess dispute": ({"service_impact": "huge"}, {"/service_impact"}),
        "Negotiate with supplier": ({"negotiation_outcome": "pending"},
                                    {"/negotiation_outcome"}),
        "Escalate to management": ({"management_decision": None, "decided_by": ""},
                                   {"/management_decision", "/decided_by"}),
        # a contract change needs its description (if/then in the schema)
        "Close dispute": ({"contract_change_needed": True}, {"/contract_change_description"}),
    },
    starter=SUPPLIER_MANAGER,
)

DESIGN_TRANSITION = CaseProcess(
    "design_transition",
    {
        "Plan new or changed service": Task(SERVICE_OWNER, {
            "service": "Self-service password reset",
            "expected_outcome": "Users reset their own passwords; password calls to the "
                                "service desk drop by 60 %.",
            "acceptance_criteria": "Reset works for all directory accounts; MFA enforced; every "
                                   "reset is logged.",
            "resources": "Two engineers for six weeks, identity team review, 5,000 EUR "
                         "licences.",
            "planned_start": "2030-02-01",
            "planned_end": "2030-03-15",
        }),
        "Design service": Task(SERVICE_DESIGN, {
            "design_summary": "Reset through the identity provider's portal, MFA by "
                              "authenticator app, audit log to the SIEM.",
            "design_reference": "DOC-SSPR-001",
        }),
        "Build and test": Task(SERVICE_DESIGN, {
            "version": "1.0.0",
            "test_results": "All three acceptance criteria met in staging.",
            "acceptance_criteria_met": True,
        }),
        "Review against expected outcome": Task(SERVICE_OWNER, {
            "outcome_achieved": "achieved",
            "review_notes": "Password calls dropped by 64 % in the first month.",
            "lessons_learned": "Involve the service desk earlier in the design.",
        }),
    },
    _path("Plan new or changed service", "Design service", "Build and test",
          "Review against expected outcome"),
    {
        "Plan new or changed service": ({"planned_end": "mid-March", "acceptance_criteria": None},
                                        {"/planned_end", "/acceptance_criteria"}),
        "Design service": ({"design_summary": "tbd"}, {"/design_summary"}),
        "Build and test": ({"acceptance_criteria_met": "mostly", "version": ""},
                           {"/acceptance_criteria_met", "/version"}),
        "Review against expected outcome": ({"outcome_achieved": "great"},
                                            {"/outcome_achieved"}),
    },
    started_by_message="design_transition_start",
    starter=CHANGE_MANAGER,
)

NONCONFORMITY = CaseProcess(
    "nonconformity",
    {
        "Record nonconformity": Task(QUALITY_MANAGER, {
            "source": "audit",
            "source_reference": "IA-2030-03",
            "requirement": "ISO/IEC 20000-1:2018 8.6.1: incidents are escalated when targets "
                           "are at risk",
            "process_affected": "Incident management",
            "summary": "P2 incidents not escalated when the resolution target was missed",
            "description": "4 of 20 sampled P2 incidents passed their target without an "
                           "escalation.",
            "severity": "major",
        }),
        "React and correct": Task(PROCESS_OWNER, {
            "correction": "Reviewed the 14 open P2 incidents and escalated the 3 overdue ones.",
            "consequences": "The customers of the 3 incidents were informed.",
        }),
        "Analyse root cause": Task(PROCESS_OWNER, {
            "root_cause": "The escalation timer was switched off after the last tool upgrade.",
            "analysis_method": "five_whys",
            "occurs_elsewhere": True,
        }),
        "Plan corrective action": Task(PROCESS_OWNER, {
            "corrective_actions": "Re-enable the timer; add a post-upgrade check of escalation "
                                  "settings.",
            "action_owner": "Paula Owen",
            "due_date": "2030-02-15",
        }),
        "Implement corrective action": Task(PROCESS_OWNER, {
            "implementation_notes": "Timer re-enabled; upgrade checklist CHK-12 updated.",
            "completed_on": "2030-01-10",
        }),
        "Verify effectiveness": Task(QUALITY_MANAGER, {
            "effective": True,
            "verification_evidence": "Sample of 20 P2 incidents in February: all escalated on "
                                     "time.",
        }),
    },
    _path("Record nonconformity", "React and correct", "Analyse root cause",
          "Plan corrective action", "Implement corrective action", "Verify effectiveness"),
    {
        "Record nonconformity": ({"source": "rumour", "severity": None},
                                 {"/source", "/severity"}),
        "React and correct": ({"correction": None, "extra": 1}, {"/correction", "/extra"}),
        "Analyse root cause": ({"analysis_method": "guessing"}, {"/analysis_method"}),
        "Plan corrective action": ({"due_date": "soon"}, {"/due_date"}),
        "Implement corrective action": ({"completed_on": 20300110}, {"/completed_on"}),
        "Verify effectiveness": ({"effective": None}, {"/effective"}),
    },
    starter=QUALITY_MANAGER,
)

IMPROVEMENT = CaseProcess(
    "improvement",
    {
        "Record improvement": Task(QUALITY_MANAGER, {
            "proposed_by": PROPOSER_MAIL,
            "source": "staff_suggestion",
            "process_or_service": "Incident management",
            "summary": "Suggest known errors while the incident is recorded",
            "description": "Agents search the known-error database by hand, often not at all.",
            "expected_benefit": "More first-contact resolutions (target: 10 points more).",
        }),
        "Evaluate proposal": Task(PROCESS_OWNER, {
            "benefit": "high",
            "cost": "low",
            "evaluation_notes": "The knowledge base has an API already; two days of work.",
        }),
        "Approve improvement": Task(QUALITY_MANAGER, {
            "improvement_decision": "approved",
            "decision_reason": "Quick win with a measurable benefit.",
            "target_date": "2030-03-01",
        }),
        "Implement improvement": Task(PROCESS_OWNER, {
            "implementation_notes": "Known-error search added to the record form in release "
                                    "2.5.",
            "completed_on": "2030-02-20",
        }),
        "Measure result": Task(QUALITY_MANAGER, {
            "measured_result": "First-contact resolution rose from 61 % to 70 % in March.",
            "benefit_realised": "partly",
        }),
    },
    _path("Record improvement", "Evaluate proposal", "Approve improvement",
          "Implement improvement", "Measure result"),
    {
        "Record improvement": ({"proposed_by": "sam", "source": "dream"},
                               {"/proposed_by", "/source"}),
        "Evaluate proposal": ({"benefit": "enormous", "cost": None}, {"/benefit", "/cost"}),
        # an approval needs a target date (if/then in the schema)
        "Approve improvement": ({"target_date": None}, {"/target_date"}),
        "Implement improvement": ({"implementation_notes": None}, {"/implementation_notes"}),
        "Measure result": ({"benefit_realised": "maybe"}, {"/benefit_realised"}),
    },
    starter=QUALITY_MANAGER,
)

CASE_PROCESSES = {p.key: p for p in (SERVICE_REQUEST, SECURITY_INCIDENT, COMPLAINT,
                                     SUPPLIER_DISPUTE, DESIGN_TRANSITION, NONCONFORMITY,
                                     IMPROVEMENT)}


# --------------------------------------------------------------------------- drivers


def start(orchestrator: Orchestrator, process: CaseProcess, **payload: Any) -> tuple[int, str]:
    """Start an instance (by its message for message-started processes); (id, business key)."""
    if process.started_by_message:
        outcome = orchestrator.deliver_message(
            process.started_by_message, {}, {**DESIGN_REQUEST, **payload}, process.starter
        )
        assert outcome.received_by == [] and outcome.started is not None
        iid = outcome.started
    else:
        iid = orchestrator.start_instance(process.key, {}, process.starter).instance_id
    return iid, orchestrator.instance(iid, AUDITOR).business_key


def task_data(process: CaseProcess, title: str, **overrides: Any) -> dict[str, Any]:
    """The canonical data of ``title`` with ``overrides``; a None override drops the field."""
    merged = {**process.tasks[title].data, **overrides}
    return {k: v for k, v in merged.items() if v is not None}


def complete(
    orchestrator: Orchestrator, process: CaseProcess, iid: int, title: str, **overrides: Any
) -> None:
    """Complete the open task ``title`` of ``iid`` as its role, with canonical data."""
    actor = process.tasks[title].actor
    task = find_task(orchestrator, actor, title, iid)
    orchestrator.complete_task(task.id, task_data(process, title, **overrides), actor)


def view(orchestrator: Orchestrator, iid: int) -> Any:
    return orchestrator.instance(iid, AUDITOR)


def open_titles(orchestrator: Orchestrator, iid: int) -> list[str]:
    return sorted(t.title for t in view(orchestrator, iid).open_tasks)


def completed_titles(orchestrator: Orchestrator, iid: int) -> list[str | None]:
    """Titles of the user tasks completed in ``iid``, in order (from the audit trail)."""
    return [e.task_name for e in orchestrator.events(iid, SYSTEM) if e.kind == "task_completed"]


def routed(orchestrator: Orchestrator, iid: int) -> list[tuple[str, str | None]]:
    """(kind, event name) of the routing audit events of ``iid``."""
    return [(e.kind, e.details.get("event")) for e in orchestrator.events(iid, SYSTEM)
            if e.kind in ("event_routed", "event_not_routed")]


def dmn_rule_count(key: str, file_name: str) -> int:
    """How many rules the decision table in ``bpmn/<key>/<file_name>`` has."""
    root = ElementTree.parse(LIBRARY / key / file_name).getroot()
    return len(root.findall(".//{*}decisionTable/{*}rule"))
