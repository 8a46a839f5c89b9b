"""Run diagram scripts and expressions under RestrictedPython, with a time limit.

SpiffWorkflow's default environment runs ``exec``/``eval`` with every builtin, so a script task
could ``import os``. :class:`RestrictedEnvironment` replaces it: every script, condition, timer
expression, DMN cell, service task parameter and message payload is compiled by
RestrictedPython with :class:`SandboxPolicy`, which also

- rejects ``import``, ``class`` and calls of ``open``/``exec``/``eval``/``compile``/... at
  compile time, with the line number;
- makes every loop body, comprehension, lambda, function body and ``except`` handler call a
  budget check, so a run stops at the time limit in any thread (no ``signal.alarm``), and
  caps call depth;
- routes ``*``, ``**`` and ``<<`` through a size check, so ``"x" * 10**12`` or ``10**10**10``
  fail at once instead of eating memory or CPU inside one bytecode.

Every failure raises :class:`~engine.errors.ScriptFailed` with one plain sentence such as
``"Script line 1: import statements are not allowed"``. SpiffWorkflow wraps it in a
``WorkflowTaskException`` whose ``__context__`` is the ScriptFailed; :func:`find_process_failure`
digs it out. Memory is not bounded (only the obvious multiplications are): run workers with an
OS memory limit.
"""

from __future__ import annotations

import ast
import json
import operator
import re
import time
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from RestrictedPython.compile import CompileResult, compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)

from engine.connectors import (
    ConnectorContext,
    ConnectorRegistry,
    Notification,
    default_registry,
    flatten_params,
)
from engine.errors import ProcessFailed, ScriptFailed

__all__ = [
    "DEFAULT_TIME_LIMIT_SECONDS",
    "MAX_CALL_DEPTH",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_SEQUENCE_LENGTH",
    "RestrictedEnvironment",
    "SandboxPolicy",
    "add_duration",
    "check_syntax",
    "find_process_failure",
    "parse_duration",
]

Mode = Literal["exec", "eval"]

DEFAULT_TIME_LIMIT_SECONDS = 2.0
MAX_RANGE = 1_000_000
MAX_CALL_DEPTH = 100
MAX_SEQUENCE_LENGTH = 10_000_000
MAX_INT_BITS = 100_000

_FILENAME = "<script>"
_LABELS: dict[str, str] = {"exec": "Script", "eval": "Expression"}
_CHECK, _ENTER, _EXIT = "_deadline_check_", "_enter_call_", "_exit_call_"
_BLOCKED_CALLS = frozenset(
    {"open", "exec", "eval", "compile", "globals", "locals", "vars", "dir", "getattr",
     "setattr", "delattr", "input", "help", "memoryview", "type", "super", "object"}
)
_GUARDED_BINOPS: dict[type[ast.operator], str] = {
    ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_",
}


class SandboxViolation(BaseException):
    """A sandbox rule stopped the run. A BaseException, so ``except Exception`` in a script
    cannot swallow it (bare ``except:`` is handled by the check at the start of handlers)."""


# --- helpers scripts can call ----------------------------------------------------------------

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?)"
)


def parse_duration(iso_duration: str) -> timedelta:
    """``PnW`` or ``PnDTnHnMnS`` (any part optional) -> timedelta; ValueError otherwise."""
    match = _DURATION.fullmatch(iso_duration) if isinstance(iso_duration, str) else None
    parts = match.groupdict() if match else {}
    if not any(parts.values()) or iso_duration.endswith("T"):
        raise ValueError(
            f"{iso_duration!r} is not a supported ISO 8601 duration: use PnW or PnDTnHnMnS, "
            f"e.g. 'P2D' or 'PT4H30M' (years and months are not supported)"
        )
    amounts = {unit: float(value) for unit, value in parts.items() if value}
    return timedelta(**amounts)


def add_duration(iso_timestamp: str, iso_duration: str) -> str:
    """The timestamp plus the duration, ISO 8601 with the input's offset (naive means UTC)."""
    try:
        start = datetime.fromisoformat(iso_timestamp)
    except (TypeError, ValueError):
        raise ValueError(f"{iso_timestamp!r} is not an ISO 8601 timestamp") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return (start + parse_duration(iso_duration)).isoformat()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _now_helper(clock: Callable[[], datetime]) -> Callable[[], str]:
    def now() -> str:
        """Current time as an ISO 8601 UTC string with offset, to the second."""
        moment = clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="seconds")

    return now


def _capped_range(*args: int) -> range:
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise SandboxViolation(f"range() of more than {MAX_RANGE:,} numbers is not allowed")
    return numbers


_SEQUENCES = (str, bytes, list, tuple)


def _too_large(op: str) -> None:
    raise SandboxViolation(f"the result of {op} would be a number too large to compute")


def _check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(count, int) and len(sequence) * count > MAX_SEQUENCE_LENGTH:
        raise SandboxViolation(
            f"repeating a sequence to more than {MAX_SEQUENCE_LENGTH:,} items is not allowed"
        )


# ``*``, ``**`` and ``<<`` run through these: one C-level operation can otherwise take
# minutes or gigabytes, and the loop check cannot interrupt it. Fast paths come first
# because these run for every multiplication.


def _check_mul(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            _too_large("*")
    elif isinstance(left, _SEQUENCES):
        _check_repeat(left, right)
    elif isinstance(right, _SEQUENCES):
        _check_repeat(right, left)


def _mul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    return left * right


def _imul(target: Any, value: Any) -> Any:
    _check_mul(target, value)
    target *= value  # in place for lists, like Python: aliases of the list see it
    return target


def _pow(base: Any, exp: Any) -> Any:
    both_int = isinstance(base, int) and isinstance(exp, int)
    if both_int and exp > 0 and abs(base) > 1 and base.bit_length() * exp > MAX_INT_BITS:
        _too_large("**")
    return base**exp


def _lshift(value: Any, shift: Any) -> Any:
    both_int = isinstance(value, int) and isinstance(shift, int)
    if both_int and value and shift > 0 and value.bit_length() + shift > MAX_INT_BITS:
        _too_large("<<")
    return value << shift


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": _imul, "/=": operator.itruediv,
    "%=": operator.imod, "**=": _pow, "<<=": _lshift, ">>=": operator.irshift,
    "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def _guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is not None:  # modular exponentiation stays small
        return pow(base, exp, mod)
    return _pow(base, exp)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


_DATA_BUILTINS = (
    len, min, max, sorted, sum, any, all, round, str, int, float, bool, dict, list, tuple,
    set, enumerate, zip, isinstance, abs, reversed,
)
# Names scripts could use to raise past the engine or build classes; never needed for data.
_DROPPED_BUILTINS = frozenset(
    {"__build_class__", "_getattr_", "setattr", "delattr", "BaseException", "SystemExit",
     "KeyboardInterrupt", "GeneratorExit"}
)


def _script_builtins(clock: Callable[[], datetime]) -> dict[str, Any]:
    names = {k: v for k, v in safe_builtins.items() if k not in _DROPPED_BUILTINS}
    names.update({f.__name__: f for f in _DATA_BUILTINS})
    names.update(range=_capped_range, pow=_guarded_pow, now=_now_helper(clock),
                 add_duration=add_duration)
    return names


_STATIC_GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr_raise,
    "_getitem_": operator.getitem,
    "_getiter_": iter,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_print_": PrintCollector,
    "_apply_": _apply,
    "_mul_": _mul,
    "_pow_": _pow,
    "_lshift_": _lshift,
}


# --- compile-time policy ---------------------------------------------------------------------

_Visit = ast.AST | Iterable[ast.AST] | None
_Located = ast.stmt | ast.expr | ast.excepthandler


def _call(name: str, at: _Located, *args: ast.expr) -> ast.Call:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])
    copy_locations(call, at)
    return call


def _stmt(name: str, at: _Located) -> ast.Expr:
    stmt = ast.Expr(_call(name, at))
    copy_locations(stmt, at)
    return stmt


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's rules, stricter, plus budget checks woven into the code.

    Injected names start with ``_``, which RestrictedPython forbids in scripts, so a script
    can neither call nor replace them. They are added after the parent visit for that reason.
    """

    def visit_Import(self, node: ast.Import) -> _Visit:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> _Visit:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> _Visit:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_Call(self, node: ast.Call) -> _Visit:
        if isinstance(node.func, ast.Name) and node.func.id in _BLOCKED_CALLS:
            self.error(node, f"{node.func.id}() is not allowed")
            return node
        return super().visit_Call(node)

    def visit_For(self, node: ast.For) -> _Visit:
        result = super().visit_For(node)
        if isinstance(result, ast.For):
            result.body.insert(0, _stmt(_CHECK, result))
        return result

    def visit_While(self, node: ast.While) -> _Visit:
        result = super().visit_While(node)
        if isinstance(result, ast.While):
            result.body.insert(0, _stmt(_CHECK, result))
        return result

    def visit_comprehension(self, node: ast.comprehension) -> _Visit:
        result = super().visit_comprehension(node)
        if isinstance(result, ast.comprehension):
            # First among the ifs, so filtered-out items are counted too.
            result.ifs.insert(0, _call(_CHECK, result.target))
        return result

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> _Visit:
        result = super().visit_ExceptHandler(node)
        if isinstance(result, ast.ExceptHandler):
            # A bare except must not swallow a time or depth stop: re-raise on entry.
            result.body.insert(0, _stmt(_CHECK, result))
        return result

    def visit_FunctionDef(self, node: ast.FunctionDef) -> _Visit:
        result = super().visit_FunctionDef(node)
        if isinstance(result, ast.FunctionDef):
            guarded = ast.Try(body=result.body, handlers=[], orelse=[],
                              finalbody=[_stmt(_EXIT, result)])
            copy_locations(guarded, result)
            result.body = [_stmt(_ENTER, result), guarded]
        return result

    def visit_Lambda(self, node: ast.Lambda) -> _Visit:
        result = super().visit_Lambda(node)
        if isinstance(result, ast.Lambda):
            checked = ast.BoolOp(op=ast.And(), values=[_call(_CHECK, result.body), result.body])
            copy_locations(checked, result.body)
            result.body = checked
        return result

    def visit_BinOp(self, node: ast.BinOp) -> _Visit:
        result = super().visit_BinOp(node)
        if isinstance(result, ast.BinOp) and type(result.op) in _GUARDED_BINOPS:
            return _call(_GUARDED_BINOPS[type(result.op)], result, result.left, result.right)
        return result


_LINE_PREFIX = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


def _plain(label: str, error: str) -> str:
    """RestrictedPython's 'Line 3: msg.' -> 'Script line 3: msg'."""
    match = _LINE_PREFIX.match(error)
    if match is None:
        return f"{label}: {error.rstrip('.')}"
    return f"{label} line {match.group(1)}: {match.group(2).rstrip('.')}"


@lru_cache(maxsize=4096)
def _compile(source: str, mode: Mode) -> types.CodeType | str:
    """Restricted bytecode, or the first problem as a sentence. Cached: conditions are
    evaluated on every engine step."""
    label = _LABELS[mode]
    text = source.strip() if mode == "eval" else source  # eval() tolerates outer whitespace
    try:
        result = _restricted(text, mode)
    except SyntaxError as exc:
        return f"{label} line {exc.lineno}: syntax error: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{label}: cannot be compiled ({type(exc).__name__}: {exc})"
    if result.errors or result.code is None:
        return _plain(label, result.errors[0] if result.errors else "cannot be compiled")
    return result.code


def _restricted(text: str, mode: Mode) -> CompileResult:
    # Parse here (not in RestrictedPython) to keep the SyntaxError's line and message.
    if mode == "eval":
        expression = ast.parse(text, filename=_FILENAME, mode="eval")
        return compile_restricted_eval(expression, filename=_FILENAME, policy=SandboxPolicy)
    module = ast.parse(text, filename=_FILENAME, mode="exec")
    return compile_restricted_exec(module, filename=_FILENAME, policy=SandboxPolicy)


def check_syntax(source: str, mode: str) -> str | None:
    """A sentence naming the first syntax error or sandbox violation in ``source``, or None.

    ``mode`` is ``"exec"`` (script) or ``"eval"`` (condition or other expression).
    """
    if mode not in _LABELS:
        raise ValueError(f"mode must be 'exec' or 'eval', not {mode!r}")
    compiled = _compile(source, "exec" if mode == "exec" else "eval")
    return compiled if isinstance(compiled, str) else None


def _compiled(source: str, mode: Mode) -> types.CodeType:
    compiled = _compile(source, mode)
    if isinstance(compiled, str):
        raise ScriptFailed(compiled)
    return compiled


# --- run time --------------------------------------------------------------------------------


class _Budget:
    """Time and call depth of one run. A stop is sticky: the deadline drops to -inf, so the
    check at the start of every except handler re-raises it."""

    __slots__ = ("_limit_text", "deadline", "depth", "stop")

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.depth = 0
        self.stop: SandboxViolation | None = None
        self._limit_text = f"{seconds:g}"

    def tick(self) -> bool:
        """Called by every loop iteration; True so it can sit in comprehension ifs."""
        if time.monotonic() > self.deadline:
            self._halt(f"stopped after the time limit of {self._limit_text} seconds")
        return True

    def enter(self) -> None:
        """Called at the start of every script-defined function."""
        self.tick()
        if self.depth >= MAX_CALL_DEPTH:
            self._halt(f"calls nested more than {MAX_CALL_DEPTH} deep (recursion) are not allowed")
        self.depth += 1

    def exit(self) -> None:
        self.depth -= 1

    def _halt(self, message: str) -> None:
        if self.stop is not None:  # already stopped; the script caught it and went on
            raise SandboxViolation(*self.stop.args)
        self.stop = SandboxViolation(message)
        self.deadline = float("-inf")
        raise self.stop


def _script_line(exc: BaseException) -> int | None:
    """The innermost script line in the exception's traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _located(label: str, exc: BaseException, message: str) -> str:
    line = _script_line(exc)
    return f"{label} line {line}: {message}" if line else f"{label}: {message}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SandboxViolation):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_code(value: Any) -> bool:
    """Functions, modules and generators are not data: they never reach task data."""
    return callable(value) or isinstance(value, types.ModuleType | types.GeneratorType)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """SpiffWorkflow script environment running everything under RestrictedPython.

    Semantics follow ``TaskDataEnvironment``: ``execute`` writes the variables a script set
    into the task data and removes the keys it deleted; functions and modules never leak
    into data. Unlike it, a failed script leaves the task data as it was (except objects it
    mutated in place), because the script runs on a copy of the top level.

    ``connector_context`` collects side effects of service tasks (``outbox``); the engine
    reads it after the steps. An environment is cheap: make one per instance step, or at
    least do not share one ``connector_context`` between instances.
    """

    def __init__(
        self,
        connectors: ConnectorRegistry | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        time_limit_seconds: float = DEFAULT_TIME_LIMIT_SECONDS,
        connector_context: ConnectorContext | None = None,
    ) -> None:
        if not time_limit_seconds > 0:
            raise ValueError("time_limit_seconds must be above 0")
        super().__init__({})
        self.connectors = connectors if connectors is not None else default_registry()
        self.connector_context = connector_context or ConnectorContext()
        self.time_limit_seconds = time_limit_seconds
        self._globals = {"__builtins__": _script_builtins(clock), **_STATIC_GUARDS}
        self._reserved = frozenset(self._globals) | {_CHECK, _ENTER, _EXIT}

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """The value of ``expression`` with task data (and external context) as names."""
        code = _compiled(expression, "eval")
        budget = _Budget(self.time_limit_seconds)
        namespace = self._namespace(context, external_context, budget)
        return self._run(code, namespace, budget, "Expression")

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Run ``script`` and write the variables it set (or deleted) back to ``context``."""
        code = _compiled(script, "exec")
        budget = _Budget(self.time_limit_seconds)
        external = external_context or {}
        namespace = self._namespace(context, external, budget)
        self._run(code, namespace, budget, "Script")
        self._write_back(context, namespace, external)
        return True

    def call_service(
        self,
        context: dict[str, Any],
        operation_name: str,
        operation_params: Mapping[str, Any],
        task_data: dict[str, Any] | None = None,
    ) -> str:
        """Run connector ``operation_name``; SpiffWorkflow ``json.loads`` the returned text."""
        data = task_data if task_data is not None else context
        base = self.connector_context
        business_key = base.business_key or data.get("business_key")
        call_context = ConnectorContext(
            instance_id=base.instance_id,
            business_key=business_key if isinstance(business_key, str) else None,
            outbox=base.outbox,
        )
        params = flatten_params(operation_params)
        return json.dumps(self.connectors.call(operation_name, params, call_context))

    @property
    def outbox(self) -> list[Notification]:
        """Notifications queued by service tasks since this environment was made."""
        return self.connector_context.outbox

    def _namespace(
        self, context: Mapping[str, Any], external: Mapping[str, Any] | None, budget: _Budget
    ) -> dict[str, Any]:
        # Guards go last so task data can never replace them.
        namespace = dict(external) if external else {}
        try:
            namespace.update(context)
        except (TypeError, ValueError):  # e.g. a message payload that is a list, not an object
            kind = type(context).__name__
            raise ScriptFailed(f"the data must be an object, not {kind}") from None
        namespace.update(self._globals)
        namespace[_CHECK] = budget.tick
        namespace[_ENTER] = budget.enter
        namespace[_EXIT] = budget.exit
        return namespace

    def _run(self, code: types.CodeType, namespace: dict[str, Any], budget: _Budget,
             label: str) -> Any:
        try:
            # Restricted bytecode from SandboxPolicy only; eval() also runs "exec" code (-> None).
            result = eval(code, namespace)
        except SandboxViolation as exc:
            origin = budget.stop or exc  # a re-raise in an except handler: report the first
            raise ScriptFailed(_located(label, origin, str(origin))) from None
        except Exception as exc:
            raise ScriptFailed(_located(label, exc, _describe(exc))) from exc
        if budget.stop is not None:  # a bare except caught the stop and the script ended
            raise ScriptFailed(_located(label, budget.stop, str(budget.stop)))
        return result

    def _write_back(
        self, context: dict[str, Any], namespace: dict[str, Any], external: Mapping[str, Any]
    ) -> None:
        for key in [k for k in context if k not in namespace]:
            del context[key]  # the script deleted it
        for key, value in namespace.items():
            if key in self._reserved or key in external:
                continue
            if _is_code(value):
                context.pop(key, None)
            elif not key.startswith("_") or key in context:  # skip RestrictedPython temps
                context[key] = value


def find_process_failure(exc: BaseException) -> ProcessFailed | None:
    """The ScriptFailed/ConnectorFailed behind an exception SpiffWorkflow raised, if any.

    SpiffWorkflow raises a new exception inside its ``except`` block, so ours is in the
    ``__context__`` (or ``__cause__``) chain.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ProcessFailed):
            return current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None
