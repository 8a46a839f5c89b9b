"""Constructs SpiffWorkflow 3.2.0 cannot execute, or that this engine does not support.

Layer 3 of the deploy checks (``engine.deploy_checks``), next to SpiffWorkflow's own parse.
Diagrams drawn in other tools (Camunda, Signavio, Trisotech, Bonita, ...; the OMG BPMN MIWG
reference models are the test bed) are valid BPMN, yet full of things this engine cannot run.
SpiffWorkflow's parser stops at the first of them per process, with a message about its own
internals, and silently drops or misreads others (a link event ends the flow, an error start
event starts its event subprocess at once, a task nothing leads to never runs). Here every
such construct of every process an instance may run is listed at once, as a ``Problem``
naming the element (id, line) and a message that starts with its type and says why.

What is *not* reported: artefacts that change nothing when the process runs (text
annotations, groups, associations, colours, diagram interchange) and extension elements or
attributes of other vendors' namespaces (``camunda:``, ``zeebe:``, ``signavio:``, ...): they
are kept byte for byte, and only ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from engine.bpmn_expressions import foreign_language
from engine.errors import Problem
from engine.spiff import PARSED_FLOW_NODES
from engine.xml_problems import BPMN_NS, NS, PROCESS, SPIFF_NS, Document, Element, type_label

__all__ = ["executability_problems"]

_CONTAINERS = ("subProcess", "transaction", "adHocSubProcess")
_GATEWAYS = ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
             "complexGateway")
_EVENTS = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
           "boundaryEvent", "implicitThrowEvent")
_ACTIVITIES = ("task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask",
               "receiveTask", "businessRuleTask", "callActivity", *_CONTAINERS)
_FLOW_NODES = (*_ACTIVITIES, *_GATEWAYS, *_EVENTS)
# SpiffWorkflow lets these have several outgoing flows; anything else refuses them.
_SPLITTERS = (*_GATEWAYS, "startEvent")

# The event definitions SpiffWorkflow 3.2.0's event parsers read, per kind of event;
# any other definition is ignored without a word (or refused, on a boundary event).
_READ_DEFINITIONS = {
    "startEvent": ("message", "signal", "timer", "conditional"),
    "endEvent": ("message", "cancel", "error", "escalation", "terminate"),
    "intermediateCatchEvent": ("message", "signal", "timer", "conditional"),
    "intermediateThrowEvent": ("escalation", "message", "signal", "timer"),
    "boundaryEvent": ("cancel", "error", "escalation", "message", "signal", "timer",
                      "conditional"),
}
_IGNORED_BECAUSE = {
    "compensate": "compensation is not supported by SpiffWorkflow 3.2.0",
    "link": "link events are not supported by SpiffWorkflow 3.2.0 (a throwing link ends the "
            "flow, a catching one is never reached); draw a sequence flow instead",
}

# Expressions, where they sit, and what a process owner calls them.
_EXPRESSIONS = {
    "conditionExpression": "condition",
    "condition": "condition",
    "timeDate": "timer",
    "timeDuration": "timer",
    "timeCycle": "timer",
    "loopCardinality": "loop cardinality",
    "completionCondition": "completion condition",
    "loopCondition": "loop condition",
}


def executability_problems(docs: list[Document], entry: str | None) -> list[Problem]:
    """What the processes an instance may run contain that this engine cannot execute.

    ``entry`` is the process the manifest names: it is checked even when it is not marked
    executable (and that is reported), so the owner learns everything in one go. Never
    raises for a well-formed document.
    """
    problems: list[Problem] = []
    for doc in docs:
        if doc.is_dmn:
            continue
        problems += _data_store_problems(doc)
        for process in _processes_to_run(doc, entry):
            problems += _ProcessCheck(doc, process).problems()
            if process.get("id") == entry and process.get("isExecutable", "true") != "true":
                problems.append(_at(doc, process, "is not executable (isExecutable="
                                    f"{process.get('isExecutable')!r}): the diagram documents "
                                    "the process; set isExecutable=\"true\" for this engine "
                                    "to run it"))
    return problems


def _processes_to_run(doc: Document, entry: str | None) -> list[Element]:
    """Executable processes, the manifest's entry process, and the processes they call."""
    processes = {str(p.get("id")): p for p in doc.root.iterfind(PROCESS, NS)}
    wanted = [pid for pid, p in processes.items()
              if p.get("isExecutable", "true") == "true" or pid == entry]
    for pid in wanted:  # grows while it is walked: the closure over call activities
        for call in processes[pid].iterfind(".//bpmn:callActivity[@calledElement]", NS):
            called = str(call.get("calledElement"))
            if called in processes and called not in wanted:
                wanted.append(called)
    return [processes[pid] for pid in wanted]


def _data_store_problems(doc: Document) -> list[Problem]:
    # SpiffWorkflow refuses the whole file when it declares a data store it has no class for,
    # and this engine registers none.
    return [
        _at(doc, store, "is not supported by this engine: SpiffWorkflow has no implementation "
                        "for data stores here; keep the data in process data (a data object) "
                        "or reach the system through a service task")
        for store in doc.root.iterfind("bpmn:dataStore", NS)
    ]


class _ProcessCheck:
    """The checks of one process (with everything nested in it), sharing its indexes."""

    def __init__(self, doc: Document, process: Element) -> None:
        self.doc = doc
        self.process = process
        with_id = [e for e in doc.root.iter(etree.Element) if e.get("id")]
        # BPMN elements win: other tools' extension elements may reuse an id (MIWG C.8.0).
        self.by_id = {str(e.get("id")): e for e in sorted(with_id, key=_is_bpmn)}
        self.containers = [process, *(e for e in process.iter(*_bpmn(_CONTAINERS)))]

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.process.find("bpmn:startEvent", NS) is None:
            found.append(_at(self.doc, self.process, "has no start event, so SpiffWorkflow "
                                                     "cannot start it"))
        for container in self.containers:
            found += self._container_problems(container)
        for node in self._flow_nodes():
            found += self._node_problems(node)
        found += self._expression_problems()
        return found

    # -- structure -------------------------------------------------------------------------

    def _flow_nodes(self) -> Iterator[Element]:
        for container in self.containers:
            yield from _children(container, _FLOW_NODES)

    def _container_problems(self, container: Element) -> list[Problem]:
        found = _subprocess_shape_problems(self.doc, container)
        flows = _children(container, ("sequenceFlow",))
        nodes = {str(n.get("id")): n for n in _children(container, _FLOW_NODES)}
        outgoing: dict[str, list[Element]] = {}
        incoming: set[str] = set()
        for flow in flows:
            outgoing.setdefault(str(flow.get("sourceRef")), []).append(flow)
            incoming.add(str(flow.get("targetRef")))
            if flow.get("targetRef") not in nodes and flow.get("sourceRef") in nodes:
                found.append(_at(self.doc, flow, f"leads to {flow.get('targetRef')!r}, which "
                                                 "is not a flow node next to its source"))
        adhoc = etree.QName(container).localname == "adHocSubProcess"
        for node_id, node in nodes.items():
            found += _split_problems(self.doc, node, outgoing.get(node_id, []))
            if node_id not in incoming and not adhoc and _needs_incoming(node):
                found.append(_at(self.doc, node, "has no incoming sequence flow: BPMN would "
                                                 "start it with the process, SpiffWorkflow "
                                                 "never runs it; connect it to the flow"))
        return found

    def _node_problems(self, node: Element) -> list[Problem]:
        kind = etree.QName(node).localname
        if kind not in PARSED_FLOW_NODES:
            return [_at(self.doc, node, "is not executable by this engine: SpiffWorkflow "
                                        "3.2.0 has no implementation for it")]
        found = [*self._definition_problems(node), *self._data_problems(node),
                 *_loop_problems(self.doc, node)]
        if kind == "serviceTask" and _spiff_extension(node, "serviceTaskOperator") is None:
            found.append(_at(self.doc, node, "has no spiffworkflow:serviceTaskOperator: this "
                                             "engine calls services only through its "
                                             f"connectors (notify, http){_foreign(node)}"))
        elif kind == "businessRuleTask" and _spiff_extension(node, "calledDecisionId") is None:
            found.append(_at(self.doc, node, "names no decision table "
                                             "(spiffworkflow:calledDecisionId), so there is "
                                             f"nothing to evaluate{_foreign(node)}"))
        elif kind == "scriptTask" and _script_language(node, self.doc.root):
            found.append(_at(self.doc, node, f"is written in {node.get('scriptFormat')!r}: "
                                             "this engine runs Python scripts only"))
        elif kind == "callActivity":
            found += self._call_problems(node)
        return found

    def _call_problems(self, call: Element) -> list[Problem]:
        called = call.get("calledElement")
        if not called:
            return [_at(self.doc, call, f"names no calledElement{_foreign(call)}")]
        target = self.by_id.get(called)
        if target is None or etree.QName(target).localname == "process":
            return []  # a process of this file, or one the call checks look up elsewhere
        return [_at(self.doc, call, f"calls {type_label(target)} {called!r}: this engine "
                                    "calls processes only")]

    # -- events ----------------------------------------------------------------------------

    def _definition_problems(self, event: Element) -> list[Problem]:
        kind = etree.QName(event).localname
        if kind not in _READ_DEFINITIONS:
            return []
        definitions = [d for d in event if _is_bpmn(d)
                       and etree.QName(d).localname.endswith("EventDefinition")]
        found = []
        for definition in definitions:
            what = etree.QName(definition).localname.removesuffix("EventDefinition")
            if what not in _READ_DEFINITIONS[kind]:
                found.append(_at(self.doc, event, f"with a {type_label(definition)} is not "
                                                  "executable by this engine: "
                                                  f"{_ignored_because(event, what)}"))
            found += self._reference_problems(event, definition, what)
        if kind == "boundaryEvent" and not definitions:
            found.append(_at(self.doc, event, "has no event definition, so there is nothing "
                                              "for it to catch"))
        if kind == "boundaryEvent" and any(etree.QName(d).localname == "cancelEventDefinition"
                                           for d in definitions):
            host = self.by_id.get(str(event.get("attachedToRef")))
            if host is None or etree.QName(host).localname != "transaction":
                found.append(_at(self.doc, event, "catches a cancel event on something that is "
                                                  "not a transaction"))
        return found

    def _reference_problems(self, event: Element, definition: Element,
                            what: str) -> list[Problem]:
        # Messages are the conventions' (``bpmn_conventions``); these crash Spiff's parser.
        if what not in ("signal", "error", "escalation"):
            return []
        ref = definition.get(f"{what}Ref")
        target = None if ref is None else self.by_id.get(ref)
        if ref is None or (target is not None and etree.QName(target).localname == what):
            return []
        return [_at(self.doc, event, f"refers to {what} {ref!r}, which this file does not "
                                     f"declare as a bpmn:{what}")]

    # -- data ------------------------------------------------------------------------------

    def _data_problems(self, node: Element) -> list[Problem]:
        paths = (("bpmn:dataInputAssociation/bpmn:sourceRef", "reads"),
                 ("bpmn:dataOutputAssociation/bpmn:targetRef", "writes"))
        scopes = list(node.iterancestors(*_bpmn(("process", *_CONTAINERS))))
        reasons = []
        for path, verb in paths:
            for ref in node.iterfind(path, NS):
                reason = self._unresolvable(ref.text or "", scopes)  # unstripped, as Spiff
                if reason is not None:
                    reasons.append(f"{verb} {reason}")
        if not reasons:
            return []
        return [_at(self.doc, node, f"{_listed(list(dict.fromkeys(reasons)))}, which this engine "
                                    "cannot resolve: SpiffWorkflow moves data only through data "
                                    "objects of the process (or of an enclosing one)")]

    def _unresolvable(self, ref: str, scopes: list[Element]) -> str | None:
        """Why SpiffWorkflow cannot resolve this data association end; None when it can."""
        target = self.by_id.get(ref)
        if target is None:
            return f"{ref!r}, which is not in this file"
        label = type_label(target)
        if etree.QName(target).localname != "dataObjectReference":
            return f"{label} {_named(target) or repr(ref)}"
        data_object = target.get("dataObjectRef")
        # The reference may sit anywhere; its data object must be in the node's scopes.
        for scope in scopes:
            if any(o.get("id") == data_object for o in scope.iterfind("bpmn:dataObject", NS)):
                return None
        return f"{label} {_named(target) or repr(ref)} (its data object is not defined here)"

    # -- expressions -----------------------------------------------------------------------

    def _expression_problems(self) -> list[Problem]:
        found = []
        for element in self.process.iter(*_bpmn(tuple(_EXPRESSIONS))):
            source = (element.text or "").strip()
            name = foreign_language(element, self.doc.root)  # None when empty, or Python
            if name is not None:
                what = _EXPRESSIONS[etree.QName(element).localname]
                owner = _expression_owner(element)
                found.append(_at(self.doc, owner, f"has a {what} written in {name} "
                                                  f"({source[:40]!r}): this engine evaluates "
                                                  f"{what}s as Python expressions"))
        return found


# -- single-element rules --------------------------------------------------------------------


def _subprocess_shape_problems(doc: Document, container: Element) -> list[Problem]:
    kind = etree.QName(container).localname
    starts = len(_children(container, ("startEvent",)))
    ends = len(_children(container, ("endEvent",)))
    if kind == "adHocSubProcess":
        found = []
        if starts or ends:
            found.append(_at(doc, container, "has start or end events, which SpiffWorkflow "
                                             "does not allow in an ad hoc subprocess"))
        if container.get("ordering") == "Sequential":
            found.append(_at(doc, container, "is ordered sequentially, which SpiffWorkflow "
                                             "does not support for ad hoc subprocesses"))
        return found
    if kind not in _CONTAINERS:
        return []
    if starts != 1:
        return [_at(doc, container, f"has {starts} start events: SpiffWorkflow runs a "
                                    "subprocess from exactly one (a plain start event)")]
    if not ends:
        return [_at(doc, container, "has no end event: SpiffWorkflow needs one in a "
                                    "subprocess")]
    return []


def _split_problems(doc: Document, node: Element, outgoing: list[Element]) -> list[Problem]:
    kind = etree.QName(node).localname
    if len(outgoing) > 1 and kind not in _SPLITTERS:
        return [_at(doc, node, f"has {len(outgoing)} outgoing sequence flows (an implicit "
                               "split), which SpiffWorkflow does not execute; put a parallel "
                               "or exclusive gateway after it")]
    if len(outgoing) < 2 or kind not in ("exclusiveGateway", "inclusiveGateway"):
        return []
    return [
        _at(doc, flow, f"leaves {type_label(node)} {node.get('id')!r} without condition and "
                       "is not its default flow, so SpiffWorkflow cannot decide when to take "
                       "it; add a condition or make it the default flow")
        for flow in outgoing
        if flow.get("id") != node.get("default")
        and flow.find("bpmn:conditionExpression", NS) is None  # an empty one: bpmn_expressions
    ]


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _needs_incoming(node: Element) -> bool:
    """Whether SpiffWorkflow reaches this node only along a sequence flow."""
    kind = etree.QName(node).localname
    if kind in ("startEvent", "boundaryEvent", "endEvent"):
        return False
    if node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true":
        return False
    # A catching link event is reported for being a link event.
    return node.find("bpmn:linkEventDefinition", NS) is None


def _loop_problems(doc: Document, node: Element) -> list[Problem]:
    found = []
    loop = node.find("bpmn:multiInstanceLoopCharacteristics", NS)
    if loop is not None:
        given = [loop.find(f"bpmn:{p}", NS) is not None
                 for p in ("loopCardinality", "loopDataInputRef")]
        if given.count(True) != 1:
            which = "both loopCardinality and" if all(given) else "neither loopCardinality nor"
            found.append(_at(doc, node, f"is multi-instance with {which} loopDataInputRef: "
                                        "SpiffWorkflow needs exactly one of them"
                                        f"{_foreign(node)}"))
    standard = node.find("bpmn:standardLoopCharacteristics", NS)
    if standard is not None and standard.get("loopMaximum") is None \
            and standard.find("bpmn:loopCondition", NS) is None:
        found.append(_at(doc, node, "loops without a loopMaximum or a loopCondition, so "
                                    "SpiffWorkflow cannot tell when to stop"))
    return found


def _ignored_because(event: Element, what: str) -> str:
    if what in _IGNORED_BECAUSE:
        return _IGNORED_BECAUSE[what]
    kind = etree.QName(event).localname
    if kind == "startEvent":
        parent = event.getparent()
        if parent is not None and parent.get("triggeredByEvent") == "true":
            return ("SpiffWorkflow 3.2.0 starts only on a message, signal, timer or condition "
                    "and would run this event subprocess as soon as the process starts")
        return "SpiffWorkflow 3.2.0 starts only on a message, signal, timer or condition"
    if kind == "endEvent" and what == "signal":
        return ("SpiffWorkflow 3.2.0 would end here without throwing the signal; throw it with "
                "an intermediate signal event before a plain end event")
    return f"SpiffWorkflow 3.2.0 ignores a {what} definition on a {type_label(event)}"


def _script_language(task: Element, root: Element) -> str | None:
    script = task.find("bpmn:script", NS)
    return None if script is None else foreign_language(script, root)


def _expression_owner(element: Element) -> Element:
    for candidate in element.iterancestors():
        qname = etree.QName(candidate)
        if (_is_bpmn(candidate) and candidate.get("id")
                and not qname.localname.endswith(("EventDefinition", "LoopCharacteristics"))):
            return candidate
    return element


def _spiff_extension(node: Element, name: str) -> Element | None:
    return node.find(f"bpmn:extensionElements/spiffworkflow:{name}", NS)


def _foreign(node: Element) -> str:
    """Names the other tools' extension elements of ``node`` (they may say what was meant)."""
    extensions = node.find("bpmn:extensionElements", NS)
    foreign = [type_label(e) for e in (extensions if extensions is not None else ())
               if isinstance(e.tag, str) and etree.QName(e).namespace not in (BPMN_NS, SPIFF_NS)]
    if not foreign:
        return ""
    return (f" (its extension elements {', '.join(dict.fromkeys(foreign))} are another "
            "tool's, which this engine keeps but ignores)")


# -- helpers ---------------------------------------------------------------------------------


def _at(doc: Document, element: Element, text: str) -> Problem:
    """A problem at ``element`` whose message starts with its type (and name)."""
    name = _named(element)
    return Problem(doc.name, element.sourceline, element.get("id"),
                   f"{type_label(element)}{' ' + name if name else ''} {text}")


def _named(element: Element) -> str:
    name = " ".join((element.get("name") or "").split())
    return repr(name) if name else ""


def _children(container: Element, kinds: tuple[str, ...]) -> list[Element]:
    return [c for c in container if _is_bpmn(c) and etree.QName(c).localname in kinds]


def _is_bpmn(element: Element) -> bool:
    return isinstance(element.tag, str) and etree.QName(element).namespace == BPMN_NS


def _bpmn(kinds: tuple[str, ...]) -> list[str]:
    return [f"{{{BPMN_NS}}}{kind}" for kind in kinds]
